#!/usr/bin/env node
'use strict'
// Development entry: oclif ignores the manifest and reads commands from dist/ each run.
require('../dist/src/core/host-resolution.js').installHostResolution()
require('@oclif/core').execute({development: true, dir: __dirname})
