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
// Cache compiled code between runs (in NODE_COMPILE_CACHE, else <tmpdir>/node-compile-cache): start-up is most
// of what a short command costs.
// eslint-disable-next-line n/no-unsupported-features/node-builtins -- optional call: a Node without it just skips the cache
require('node:module').enableCompileCache?.()
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')

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

function runOclif() {
  require('../dist/src/core/host-resolution.js').installHostResolution()
  // @oclif/core checks the Node version against its own engines field with semver (47 modules) on every start;
  // the check above already refused anything older than what iss needs.
  const engineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING
  process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true'
  const oclif = require('@oclif/core')
  if (engineCheck === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
  else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineCheck
  return manifestIsStale()
    ? oclif.execute({dir: __dirname, loadOptions: {root, ignoreManifest: true}})
    : oclif.execute({dir: __dirname})
}

// `iss --version` and `iss list` run without loading oclif when they can behave exactly as under oclif
// (src/core/fast-start.ts); anything else, or ISS_FAST_START=0, goes to oclif.
require('../dist/src/core/fast-start.js')
  .fastStart(process.argv.slice(2), root)
  .then((done) => done || runOclif())
