#!/usr/bin/env node
'use strict'
// Plain JS so that an old Node can still print a useful line before anything modern is parsed.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  process.stderr.write(
    `iss needs Node.js 22 or newer; this is Node.js ${process.versions.node}. Install Node 22+ and try again.\n`,
  )
  process.exit(2)
}
// Cache compiled code between runs: start-up is most of what a short command costs.
require('node:module').enableCompileCache?.()
require('../dist/src/core/host-resolution.js').installHostResolution()
require('@oclif/core').execute({dir: __dirname})
