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

module.exports = {BIN, ROOT, issMissing, runIss, startIss}
