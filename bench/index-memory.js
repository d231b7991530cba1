#!/usr/bin/env node
'use strict'
// Bytes per name of the filesystem store's name index (src/core/store/name-index.ts), as FsStore builds
// it at start: names decoded from the directory listing, identity keys, frozen entries, one load().
// Usage: npm run build && node --expose-gc bench/index-memory.js [--count 200000] [--name-bytes 240]
// Prints heap bytes per name for names that are their own identity key (lower case) and for names
// that are not (upper case: the key is a second string), and the cost of a whole-listing snapshot.
const {NameIndex} = require(process.env.INDEX_MODULE ?? '../dist/src/core/store/name-index.js')
const {identityKey} = require('../dist/src/core/images/names.js')

function option(name, fallback) {
  const at = process.argv.indexOf(name)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}

const COUNT = option('--count', 200_000)
const NAME_BYTES = option('--name-bytes', 240)
const UTF8 = new TextDecoder('utf-8', {fatal: true})

function heap() {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

function measure(upper) {
  const before = heap()
  const index = new NameIndex()
  const found = new Map()
  for (let i = 0; i < COUNT; i++) {
    const stem = `${String(i).padStart(8, '0')}-`
    const text = stem + (upper ? 'X' : 'x').repeat(NAME_BYTES - stem.length - 4) + '.png'
    // As readdir gives it: bytes decoded to a fresh string.
    const name = UTF8.decode(Buffer.from(text))
    found.set(identityKey(name), Object.freeze({name, size: 67, modifiedMs: 1_700_000_000_123.456 + i}))
  }
  index.load(found)
  found.clear()
  const loaded = heap()
  const snapshot = index.list()
  if (snapshot.length !== COUNT || index.size !== COUNT) throw new Error('index lost names')
  return {perName: (loaded - before) / COUNT, snapshotPerName: (heap() - loaded) / COUNT}
}

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc')
  process.exit(2)
}
const own = measure(false)
const folded = measure(true)
console.log(`${COUNT} names of ${NAME_BYTES} bytes`)
console.log(`index, names that are their own key: ${own.perName.toFixed(0)} bytes per name`)
console.log(`index, names whose key differs:      ${folded.perName.toFixed(0)} bytes per name`)
console.log(`whole-listing snapshot (shared):     ${own.snapshotPerName.toFixed(1)} bytes per name`)
