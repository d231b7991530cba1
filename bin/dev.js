#!/usr/bin/env node
'use strict'
// Development entry: same as run.js but oclif reads commands from source maps' dist without a manifest.
require('node:module').enableCompileCache?.()
require('../dist/src/core/host-resolution.js').installHostResolution()
require('@oclif/core').execute({development: true, dir: __dirname}).catch(require('@oclif/core/handle'))
