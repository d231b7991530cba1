'use strict'
// Test data on disk: large PNG-looking files, stores seeded with many small valid PNGs, and the
// free-space check that decides which cases can run.
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function crc32(buffer) {
  // eslint-disable-next-line n/no-unsupported-features/node-builtins -- the bench runs on the node devDependency (22.23), which has it
  return zlib.crc32(buffer)
}

function chunk(type, data) {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body) >>> 0)
  return Buffer.concat([length, body, crc])
}

/** A valid 1x1 greyscale PNG (67 bytes). */
function tinyPng() {
  const ihdr = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
  const idat = zlib.deflateSync(Buffer.from([0, 0]))
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))])
}

/** The signature and the IHDR chunk of a 1024 x 1024 RGB PNG: what the server checks of a PNG (33 bytes). */
function pngHead() {
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', Buffer.from([0, 0, 4, 0, 0, 0, 4, 0, 8, 2, 0, 0, 0]))])
}

/**
 * A file of `size` bytes that sniffs as PNG: the signature and an IHDR, then incompressible bytes
 * (a random block repeated: generating a fresh GiB of randomness would cost more than the bench).
 */
function writePngLike(file, size) {
  const head = pngHead()
  const block = crypto.randomBytes(8 << 20)
  const fd = fs.openSync(file, 'w')
  try {
    fs.writeSync(fd, head)
    let written = head.length
    while (written < size) {
      const n = Math.min(block.length, size - written)
      fs.writeSync(fd, block, 0, n)
      written += n
    }
  } finally {
    fs.closeSync(fd)
  }
}

/** Writes `count` small PNGs named img-000000.png... into dir (what 100,000 PUTs would leave, without the fsyncs). */
function seedStore(dir, count) {
  fs.mkdirSync(dir, {recursive: true})
  const png = tinyPng()
  const width = String(count).length
  for (let i = 0; i < count; i++)
    fs.writeFileSync(path.join(dir, `img-${String(i).padStart(Math.max(6, width), '0')}.png`), png)
}

/** Bytes free for an unprivileged writer on the filesystem holding dir. */
function freeBytes(dir) {
  const stats = fs.statfsSync(dir)
  return stats.bavail * stats.bsize
}

/** Are the first and last MiB of two files equal, and their sizes? (A full compare of a GiB costs seconds.) */
function sameEnds(a, b) {
  const sizeA = fs.statSync(a).size
  if (sizeA !== fs.statSync(b).size) return false
  const span = Math.min(sizeA, 1 << 20)
  for (const position of [0, sizeA - span]) {
    const bufA = Buffer.alloc(span)
    const bufB = Buffer.alloc(span)
    const fdA = fs.openSync(a, 'r')
    const fdB = fs.openSync(b, 'r')
    fs.readSync(fdA, bufA, 0, span, position)
    fs.readSync(fdB, bufB, 0, span, position)
    fs.closeSync(fdA)
    fs.closeSync(fdB)
    if (!bufA.equals(bufB)) return false
  }
  return true
}

module.exports = {freeBytes, pngHead, sameEnds, seedStore, tinyPng, writePngLike}
