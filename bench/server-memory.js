#!/usr/bin/env node
'use strict'
// Peak RSS of `iss serve` while it receives and then sends one large image (default 1 GiB).
// Usage: npm run build && node bench/server-memory.js [--size-mib 1024]
// Runs the built CLI (bin/run.js serve) in a child process with a temporary store, uploads the image
// as one streamed protocol-4 frame, downloads it again, and reads the child's VmHWM (Linux) after each phase.
const {spawn} = require('node:child_process')
const {readFileSync, mkdtempSync, rmSync} = require('node:fs')
const {connect} = require('node:net')
const {tmpdir} = require('node:os')
const {join} = require('node:path')
const {encodeStreamingFrame, encodeFrame} = require('../dist/src/core/protocol/message-writer.js')
const {pngHead} = require('./lib/files.js')

const sizeArg = process.argv.indexOf('--size-mib')
const SIZE = (sizeArg > 0 ? Number(process.argv[sizeArg + 1]) : 1024) * 1024 * 1024
const CHUNK = 1024 * 1024

function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)[1])
  return kib / 1024
}

function startServer(storage) {
  const child = spawn(
    process.execPath,
    [
      join(__dirname, '..', 'bin', 'run.js'),
      'serve',
      '--port',
      '0',
      '--storage',
      storage,
      '--max-size',
      String(SIZE + CHUNK),
      '--min-free',
      '0',
      '--log-level',
      'warn',
    ],
    {stdio: ['ignore', 'pipe', 'inherit']},
  )
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const match = /listening on [^\s]*:(\d+)/.exec(out)
      if (match) resolve({child, port: Number(match[1])})
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)))
  })
}

function request(command, filename) {
  return {COMMAND: command, STATUS: 'REQUEST', DETAILS: null, FILENAME: filename, extra: {VERSION: 1n}}
}

/** Reads one response frame, keeping only its first and last bytes; resolves with its length. */
function readFrame(socket) {
  return new Promise((resolve, reject) => {
    let header = Buffer.alloc(0)
    let remaining = -1
    let total = 0
    let tail = Buffer.alloc(0)
    const onData = (chunk) => {
      if (remaining < 0) {
        header = Buffer.concat([header, chunk])
        if (header.length < 4) return
        remaining = header.readUInt32BE(0)
        chunk = header.subarray(4)
      }
      remaining -= chunk.length
      total += chunk.length
      tail = Buffer.concat([tail, chunk]).subarray(-256)
      if (remaining <= 0) {
        socket.off('data', onData)
        resolve({length: total, tail: tail.toString('latin1')})
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
  })
}

async function put(port) {
  const socket = connect({port, host: '127.0.0.1'})
  await new Promise((resolve) => {
    socket.once('connect', resolve)
  })
  const {head, tail} = encodeStreamingFrame(request('PUT', 'big.png'), SIZE, {protocol: 4})
  const answer = readFrame(socket)
  socket.write(head)
  const block = Buffer.alloc(CHUNK, 0x5a)
  // The first block starts with a valid PNG head; socket.write keeps a reference, so it is a copy.
  const first = Buffer.from(block)
  pngHead().copy(first)
  for (let sent = 0; sent < SIZE; sent += CHUNK) {
    const whole = sent === 0 ? first : block
    const part = sent + CHUNK <= SIZE ? whole : whole.subarray(0, SIZE - sent)
    if (!socket.write(part))
      await new Promise((resolve) => {
        socket.once('drain', resolve)
      })
  }
  socket.write(tail)
  const result = await answer
  socket.destroy()
  if (!result.tail.includes('OK')) throw new Error(`PUT failed: ${result.tail}`)
}

async function get(port) {
  const socket = connect({port, host: '127.0.0.1'})
  await new Promise((resolve) => {
    socket.once('connect', resolve)
  })
  const answer = readFrame(socket)
  socket.write(encodeFrame({...request('GET', 'big.png'), FILE_DATA: null}, {protocol: 4}))
  const result = await answer
  socket.destroy()
  if (result.length < SIZE) throw new Error(`GET returned ${result.length} bytes`)
}

async function main() {
  const storage = mkdtempSync(join(tmpdir(), 'iss-server-memory-'))
  const {child, port} = await startServer(storage)
  try {
    const startMiB = peakRssMiB(child.pid)
    let started = Date.now()
    await put(port)
    const putSeconds = (Date.now() - started) / 1000
    const afterPut = peakRssMiB(child.pid)
    started = Date.now()
    await get(port)
    const getSeconds = (Date.now() - started) / 1000
    const afterGet = peakRssMiB(child.pid)
    const mib = SIZE / 1024 / 1024
    console.log(`image: ${mib} MiB`)
    console.log(`peak RSS at start:          ${startMiB.toFixed(1)} MiB`)
    console.log(`peak RSS after PUT:         ${afterPut.toFixed(1)} MiB  (${(mib / putSeconds).toFixed(0)} MiB/s)`)
    console.log(`peak RSS after PUT and GET: ${afterGet.toFixed(1)} MiB  (${(mib / getSeconds).toFixed(0)} MiB/s)`)
    console.log(afterGet < 128 ? 'PASS: under 128 MiB' : 'FAIL: 128 MiB or more')
    process.exitCode = afterGet < 128 ? 0 : 1
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => {
      child.on('exit', resolve)
    })
    rmSync(storage, {recursive: true, force: true})
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
