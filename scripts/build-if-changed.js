#!/usr/bin/env node
'use strict'
// Builds what is out of date, and only that: `npm start` and `npm ci` (prepare) run it, so a start after
// no change costs the incremental TypeScript check (about 2 s) instead of a full build (about 20 s).
//   - TypeScript: `tsc -b` is incremental by itself (tsconfig.tsbuildinfo).
//   - dist/bundle/cli.js (scripts/bundle-cli.js): rebuilt when a compiled module or package.json is newer.
//   - oclif.manifest.json: rebuilt when a compiled module or package.json is newer than it.
//   - plugins/iss-plugin-delete and iss-plugin-rename: each rebuilt when its sources, its package.json or the host's SDK types are
//     newer than its manifest (the last thing its build writes).
// `--all` builds everything regardless (npm run build). No oclif update notice: this is a dev tool
// talking to a user who only asked to start the server.
const {spawnSync} = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
// The first-party plugins, built against this checkout's SDK.
const plugins = ['iss-plugin-delete', 'iss-plugin-rename'].map((name) => path.join(root, 'plugins', name))
const all = process.argv.includes('--all')
const env = {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true'}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return -1
  }
}

/** The newest modification time of `file`, or of any file under it when it is a folder. */
function newest(file) {
  let stats
  try {
    stats = fs.statSync(file)
  } catch {
    return -1
  }
  if (!stats.isDirectory()) return stats.mtimeMs
  let latest = stats.mtimeMs
  for (const entry of fs.readdirSync(file)) latest = Math.max(latest, newest(path.join(file, entry)))
  return latest
}

function run(label, args, cwd = root) {
  const result = spawnSync(process.execPath, args, {cwd, env, stdio: 'inherit'})
  if (result.status !== 0) {
    process.stderr.write(`build: ${label} failed (exit ${result.status ?? result.signal})\n`)
    process.exit(result.status || 1)
  }
}

const tsc = require.resolve('typescript/bin/tsc', {paths: [root]})
const oclif = require.resolve('oclif/bin/run.js', {paths: [root]})
const hostResolution = path.join(root, 'dist', 'src', 'core', 'register-host-resolution.js')

run('tsc -b', [tsc, '-b'])

const bundle = path.join(root, 'dist', 'bundle', 'cli.js')
if (all || Math.max(newest(path.join(root, 'dist', 'src')), mtime(path.join(root, 'package.json'))) > mtime(bundle)) {
  run('bundle', [path.join(root, 'scripts', 'bundle-cli.js')])
}

const manifest = path.join(root, 'oclif.manifest.json')
// Any compiled module, not only the commands: their flags come from the shared base class too.
const manifestInputs = Math.max(newest(path.join(root, 'dist', 'src')), mtime(path.join(root, 'package.json')))
if (all || manifestInputs > mtime(manifest)) {
  run('oclif manifest', [oclif, 'manifest'])
}

for (const plugin of plugins) {
  const pluginManifest = path.join(plugin, 'oclif.manifest.json')
  const pluginInputs = Math.max(
    newest(path.join(plugin, 'src')),
    newest(path.join(plugin, 'test')),
    mtime(path.join(plugin, 'package.json')),
    mtime(path.join(plugin, 'tsconfig.json')),
    mtime(path.join(root, 'dist', 'src', 'index.d.ts')),
  )
  if (all || pluginInputs > mtime(pluginManifest)) {
    run('plugin tsc', [tsc, '-p', '.'], plugin)
    run('plugin manifest', ['--require', hostResolution, oclif, 'manifest'], plugin)
  }
}
