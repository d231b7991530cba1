#!/usr/bin/env node
'use strict'
/**
 * Memory proof for the streaming codec: a 1 GiB FILE_DATA is decoded into a sink, then encoded from a
 * stream into a sink, without ever being held whole. Prints the peak RSS.
 *
 *   npm run build && npx node bench/codec-memory.js [--size-mib 1024] [--phase decode|encode|both|baseline] [--json]
 *
 * Nothing is written to disk: the data is generated in 64 KiB chunks in memory.
 * Exits 1 if the data does not round trip or the peak RSS is over 128 MiB.
 */
const {createHash} = require('node:crypto')
const path = require('node:path')
const {Readable, Writable} = require('node:stream')
const {pipeline} = require('node:stream/promises')

const dist = process.env.ISS_DIST ?? path.join(__dirname, '..', 'dist')
const {encodeStreamingFrame} = require(path.join(dist, 'src/core/protocol/message-writer.js'))
const {maxFrameBytes} = require(path.join(dist, 'src/core/config.js'))

const CHUNK = 64 * 1024
const LIMIT_MIB = 128
const args = process.argv.slice(2)
const sizeIndex = args.indexOf('--size-mib')
const SIZE = (sizeIndex === -1 ? 1024 : Number(args[sizeIndex + 1])) * 1024 * 1024
const json = args.includes('--json')
const phaseIndex = args.indexOf('--phase')
const PHASE = phaseIndex === -1 ? 'both' : args[phaseIndex + 1]

const toMiB = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10
// resourceUsage().maxRSS is in KiB.
const peakRss = () => process.resourceUsage().maxRSS * 1024

/** `size` bytes of a pattern that changes per chunk, produced 64 KiB at a time. */
function generated(size, hash) {
  let sent = 0
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (sent >= size) return this.push(null)
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, size - sent))
      // A cheap pattern that differs per position and per chunk, so a lost or repeated chunk shows.
      const seed = (sent / CHUNK) & 0xffff
      for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((seed * 2654435761 + i) >>> 0, i)
      hash.update(chunk)
      sent += chunk.length
      this.push(chunk)
    },
  })
}

/** A writable that feeds a MessageReader and counts and hashes the streamed FILE_DATA. */
function readerSink() {
  const {MessageReader} = require(path.join(dist, 'src/core/protocol/message-reader.js'))
  const reader = new MessageReader({maxFrameBytes: maxFrameBytes(SIZE), maxStreamBytes: SIZE, byteOrder: 'detect'})
  const state = {streamed: 0, hash: createHash('sha256'), messages: [], wire: 0}
  const events = []
  const sink = new Writable({
    highWaterMark: CHUNK,
    write(chunk, _encoding, callback) {
      state.wire += chunk.length
      reader.write(chunk, events)
      for (const event of events) {
        switch (event.type) {
          case 'stream-data': {
            state.streamed += event.chunk.length
            state.hash.update(event.chunk)
            break
          }
          case 'message': {
            state.messages.push(event.message)
            break
          }
          case 'rejected':
            return callback(event.error)
        }
      }
      events.length = 0
      callback()
    },
  })
  return {sink, state}
}

const message = {COMMAND: 'PUT', STATUS: 'REQUEST', DETAILS: null, FILENAME: 'big.png', extra: {VERSION: 1n}}

/** Phase 1: a frame arrives from the network and is decoded into a sink. */
async function decodePhase() {
  const sent = createHash('sha256')
  const {head, tail} = encodeStreamingFrame(message, SIZE)
  const {sink, state} = readerSink()
  await pipeline(Readable.from(framePieces(head, generated(SIZE, sent), tail)), sink)
  return check('decode', sent, state)
}

/** Phase 2: a frame is encoded from a stream into a sink standing in for the socket. */
async function encodePhase() {
  const sent = createHash('sha256')
  const {head, tail, frameLength} = encodeStreamingFrame(message, SIZE)
  const wire = createHash('sha256')
  let written = 0
  const socket = new Writable({
    highWaterMark: CHUNK,
    write(chunk, _encoding, callback) {
      written += chunk.length
      wire.update(chunk)
      callback()
    },
  })
  await pipeline(Readable.from(framePieces(head, generated(SIZE, sent), tail)), socket)
  if (written !== frameLength + 4) throw new Error(`encode: wrote ${written} bytes, announced ${frameLength + 4}`)
  return {phase: 'encode', bytes: written, sha256: wire.digest('hex'), peakRssMiB: toMiB(peakRss())}
}

/** For comparison: the same chunks through a hashing sink with no codec at all (Node's own floor). */
async function baselinePhase() {
  const sent = createHash('sha256')
  let written = 0
  const sink = new Writable({
    highWaterMark: CHUNK,
    write(chunk, _encoding, callback) {
      written += chunk.length
      callback()
    },
  })
  await pipeline(generated(SIZE, sent), sink)
  return {phase: 'baseline (no codec)', bytes: written, sha256: sent.digest('hex'), peakRssMiB: toMiB(peakRss())}
}

async function* framePieces(head, data, tail) {
  yield head
  for await (const chunk of data) yield chunk
  yield tail
}

function check(phase, sent, state) {
  const expected = sent.digest('hex')
  const got = state.hash.digest('hex')
  if (state.streamed !== SIZE || got !== expected || state.messages.length !== 1)
    throw new Error(
      `${phase}: streamed ${state.streamed} of ${SIZE} bytes, ${state.messages.length} messages, hash ok ${got === expected}`,
    )
  return {phase, bytes: state.streamed, sha256: got, peakRssMiB: toMiB(peakRss())}
}

async function main() {
  const started = process.hrtime.bigint()
  const results = []
  if (PHASE === 'baseline') results.push(await baselinePhase())
  else if (PHASE === 'both' || PHASE === 'decode') results.push(await decodePhase())
  if (PHASE === 'both' || PHASE === 'encode') results.push(await encodePhase())
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const peak = toMiB(peakRss())
  const ok = peak < LIMIT_MIB
  if (json) console.log(JSON.stringify({sizeBytes: SIZE, results, peakRssMiB: peak, limitMiB: LIMIT_MIB, seconds, ok}))
  else {
    for (const r of results)
      console.log(
        `${r.phase}: ${toMiB(r.bytes)} MiB FILE_DATA, sha256 ${r.sha256.slice(0, 16)}..., peak RSS so far ${r.peakRssMiB} MiB`,
      )
    console.log(`peak RSS ${peak} MiB (limit ${LIMIT_MIB} MiB) in ${seconds.toFixed(1)} s: ${ok ? 'OK' : 'OVER'}`)
  }
  process.exitCode = ok ? 0 : 1
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
