#!/usr/bin/env node
'use strict'
// Plain JS so that an old Node can still print a useful line before anything modern is parsed.
const major = Number(process.versions.node.split('.', 1)[0])
if (major < 22) {
  process.stderr.write(
    `iss needs Node.js 22 or newer; this is Node.js ${process.versions.node}. Install Node 22+ and try again.\n`,
  )
  process.exit(2)
}

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')

/**
 * oclif's cache directory for iss (ISS_CACHE_DIR, else ~/Library/Caches/iss on macOS, else
 * $XDG_CACHE_HOME/iss, %LOCALAPPDATA%\iss on Windows, ~/.cache/iss), so that everything iss caches is in
 * the one place oclif documents. Empty variables count as unset, as in oclif.
 */
function cacheDir() {
  if (process.env.ISS_CACHE_DIR) return process.env.ISS_CACHE_DIR
  const home = process.env.HOME || os.homedir() || os.tmpdir()
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Caches', 'iss')
  const base =
    process.env.XDG_CACHE_HOME ||
    (process.platform === 'win32' && process.env.LOCALAPPDATA) ||
    path.join(home, '.cache')
  return path.join(base, 'iss')
}

/**
 * Keeps V8's compiled code between runs (Node's module compile cache): most of what a short command costs is
 * compiling `@oclif/core`. NODE_COMPILE_CACHE, when set, wins (Node has then enabled it already); a cache
 * directory that cannot be made or written only costs speed, never the command.
 */
function enableCompileCache() {
  // eslint-disable-next-line n/no-unsupported-features/node-builtins -- Node >= 22.1; an older 22 just skips it
  const {enableCompileCache: enable} = require('node:module')
  if (typeof enable !== 'function') return
  try {
    enable(process.env.NODE_COMPILE_CACHE ? undefined : path.join(cacheDir(), 'compile-cache'))
  } catch {
    // os.homedir() can throw for a user with no passwd entry: run without the cache.
  }
}

/**
 * `iss --version` as oclif prints it (`<name>/<version> <platform>-<arch> node-<version>`), without loading
 * oclif. Under WSL oclif says `wsl`, detected by a module of its own: there oclif answers.
 */
function printVersion() {
  if (process.platform === 'linux') {
    let version = os.release()
    try {
      version += fs.readFileSync('/proc/version', 'utf8')
    } catch {}
    if (version.toLowerCase().includes('microsoft')) return false
  }
  const pjson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const arch = os.arch() === 'ia32' ? 'x86' : os.arch()
  process.stdout.write(`${pjson.name}/${pjson.version} ${process.platform}-${arch} node-${process.version}\n`)
  return true
}

/**
 * True when oclif.manifest.json is older than a compiled command: `tsc -b` without `npm run build` leaves the
 * manifest describing the commands as they were, so a new command or flag would be missing from it.
 */
function manifestIsStale() {
  let built
  try {
    built = fs.statSync(path.join(root, 'oclif.manifest.json')).mtimeMs
  } catch {
    return false
  }
  const newer = (dir) => {
    try {
      if (fs.statSync(dir).mtimeMs > built) return true
      return fs.readdirSync(dir, {withFileTypes: true}).some((entry) => {
        const file = path.join(dir, entry.name)
        return entry.isDirectory() ? newer(file) : entry.name.endsWith('.js') && fs.statSync(file).mtimeMs > built
      })
    } catch {
      return false
    }
  }
  return newer(path.join(root, 'dist', 'src', 'commands'))
}

/** The client commands bundled by `npm run build` (scripts/bundle-cli.js) with oclif, in one file. */
const bundle = path.join(root, 'dist', 'bundle', 'cli.js')

/**
 * What the bundle holds (its commands, and the root's hooks in it), when `id` is one of its commands and it is
 * at least as new as the compiled files it was
 * made from: after a `tsc -b` (which rewrites dist/tsconfig.tsbuildinfo) without `npm run build`, the files in
 * dist/src are what runs. A package has no tsbuildinfo: there the bundle is the build. Every other command
 * (`serve`, plugins' commands, help) starts from dist/src and node_modules, on the `@oclif/core` its classes use.
 */
function bundleFor(id) {
  let bundled
  let info
  try {
    bundled = fs.statSync(bundle).mtimeMs
    info = JSON.parse(fs.readFileSync(bundle.replace(/\.js$/, '.json'), 'utf8'))
    if (!info.commands.includes(id)) return undefined
  } catch {
    return undefined
  }
  try {
    return fs.statSync(path.join(root, 'dist', 'tsconfig.tsbuildinfo')).mtimeMs <= bundled ? info : undefined
  } catch {
    return info
  }
}

function runOclif(argv) {
  // @oclif/core checks the Node version against its own engines field with semver (47 modules) on every start;
  // the check above already refused anything older than what iss needs.
  const engineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING
  process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true'
  const stale = manifestIsStale()
  const bundled = stale ? undefined : bundleFor(argv[0])
  const oclif = require(bundled ? bundle : '@oclif/core')
  if (engineCheck === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
  else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineCheck
  // A broken plugin: one line naming it and how to remove it, not a require stack on every command. Plugins
  // run compiled: no TypeScript lookup (and no "Could not find typescript" line) for a linked plugin.
  require('../dist/src/core/plugin-problems.js').reportPluginProblems()
  if (oclif.settings.enableAutoTranspile === undefined && process.env.NODE_ENV !== 'development') {
    oclif.settings.enableAutoTranspile = false
  }
  // Installed after oclif has loaded, so that its modules do not pass through the resolve hook; plugin code,
  // the only code that needs it, loads later.
  require('../dist/src/core/host-resolution.js').installHostResolution()
  if (stale) return oclif.execute({dir: __dirname, loadOptions: {root, ignoreManifest: true}})
  if (!bundled) return oclif.execute({dir: __dirname})
  // The root plugin's commands and hooks come from the bundle (oclif's explicit discovery); package.json keeps the
  // usual commands folder for oclif's tools, the tests and every start without the bundle. The core plugins
  // (help, not-found, plugins) are not loaded: they bring commands and hooks that never run for a client
  // command (scripts/bundle-cli.js refuses to bundle when one declares a hook that would), and loading them is
  // a third of what is left of the start. Plugins a user installed or linked are loaded as always.
  const pjson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  pjson.oclif = {
    ...pjson.oclif,
    plugins: [],
    commands: {strategy: 'explicit', target: path.relative(root, bundle), identifier: 'COMMANDS'},
    hooks: bundled.hooks,
  }
  return oclif.execute({dir: __dirname, loadOptions: {root, pjson}})
}

/**
 * libuv's thread pool size for `iss serve` (docs/performance.md: measured with 64 connections of 100 KiB
 * PUTs and GETs): each upload's fdatasync holds a pool thread for a disk flush, and with libuv's default of
 * 4 the fifth waits, and every file open and read waits behind them. libuv reads the variable once, when the
 * pool first starts, so it is set here, before oclif reads any file; a value the user set wins.
 */
const SERVE_THREADPOOL_SIZE = 16

const argv = process.argv.slice(2)
if (argv[0] === 'serve' && !process.env.UV_THREADPOOL_SIZE)
  process.env.UV_THREADPOOL_SIZE = String(SERVE_THREADPOOL_SIZE)
if (!(argv[0] === '--version' && argv.length === 1 && printVersion())) {
  enableCompileCache()
  runOclif(argv)
}
