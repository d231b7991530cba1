'use strict'
// How the bench runs iss itself: `iss serve` and the CLI as a user would, through bin/run.js with
// the Node that runs the bench (Node 22 from node_modules/.bin under `npm run bench`).
const fs = require('node:fs')
const path = require('node:path')
const {runTimed, startServer} = require('./procs.js')

const ROOT = path.resolve(__dirname, '..', '..')
const BIN = path.join(ROOT, 'bin', 'run.js')

/** Why iss cannot be measured (not built, or no serve command yet), or null. */
function issMissing() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'commands', 'serve.js')))
    return 'iss is not built (dist/src/commands/serve.js missing; run npx tsc -b)'
  return null
}

/** Starts `iss serve` on 127.0.0.1:port over `storage`; nodeArgs go before bin/run.js (e.g. --cpu-prof). */
function startIss({storage, port, fsync = true, maxSize, nodeArgs = [], logDir, name, readyTimeoutMs = 120_000}) {
  const args = [...nodeArgs, BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--storage', storage]
  if (maxSize) args.push('--max-size', String(maxSize))
  if (!fsync) args.push('--no-fsync')
  return startServer({
    name: name ?? `iss serve${fsync ? '' : ' --no-fsync'}`,
    command: process.execPath,
    args,
    port,
    logDir,
    readyTimeoutMs,
  })
}

/** Runs the iss CLI (`iss ...args`), timed, with its peak RSS. */
function runIss(args, options = {}) {
  const {nodeArgs = [], bin = BIN, ...rest} = options
  return runTimed(process.execPath, [...nodeArgs, bin, ...args], rest)
}

/**
 * The package as `npm pack` ships it, in a temporary folder: bin/run.js and package.json copied,
 * dist and node_modules linked, and an oclif manifest generated there (a git checkout has none,
 * and writing one into the shared work tree could hide other engineers' new commands). Returns the
 * bin path, or {reason} when the manifest cannot be made.
 */
async function packagedBin(dir) {
  const oclif = path.join(ROOT, 'node_modules', '.bin', 'oclif')
  if (!fs.existsSync(oclif)) return {reason: 'the oclif tool is not installed'}
  fs.mkdirSync(path.join(dir, 'bin'), {recursive: true})
  fs.copyFileSync(BIN, path.join(dir, 'bin', 'run.js'))
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'))
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'))
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  const result = await runTimed(oclif, ['manifest'], {
    cwd: dir,
    measureRss: false,
    timeoutMs: 60_000,
    env: {OCLIF_SKIP_NEW_VERSION_CHECK: 'true'},
  })
  if (result.code !== 0 || !fs.existsSync(path.join(dir, 'oclif.manifest.json'))) {
    return {reason: `oclif manifest failed: ${result.stderr.trim().split('\n').pop()}`}
  }
  return {bin: path.join(dir, 'bin', 'run.js')}
}

module.exports = {BIN, ROOT, issMissing, packagedBin, runIss, startIss}
