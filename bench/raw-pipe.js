'use strict'
// Baseline (a): the practical limit of moving a file over loopback with Node here. No codec, no
// names, no checks: a 1-byte op, a name, a length, then the bytes piped between file and socket.
// The server writes into a temporary file, fsyncs it when asked, and renames it, as iss does.
//
// Usage: node bench/raw-pipe.js server PORT DIR fsync|no-fsync
//        node bench/raw-pipe.js put PORT FILE NAME
//        node bench/raw-pipe.js get PORT NAME OUT fsync|no-fsync
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const {pipeline} = require('node:stream/promises')

const CHUNK = 1 << 20
const [mode, portText, ...rest] = process.argv.slice(2)
const port = Number(portText)

function header(op, name, size) {
  const nameBytes = Buffer.from(name)
  const out = Buffer.alloc(1 + 2 + nameBytes.length + 8)
  out.write(op, 0, 'latin1')
  out.writeUInt16BE(nameBytes.length, 1)
  nameBytes.copy(out, 3)
  out.writeBigUInt64BE(BigInt(size), 3 + nameBytes.length)
  return out
}

function fsyncPath(file) {
  const fd = fs.openSync(file, 'r+')
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

/** Reads a header, then hands the socket (with any bytes already read) to the op. */
function serve(dir, fsync) {
  net
    .createServer((socket) => {
      let buffered = Buffer.alloc(0)
      const onData = (chunk) => {
        buffered = Buffer.concat([buffered, chunk])
        if (buffered.length < 3) return
        const nameLength = buffered.readUInt16BE(1)
        if (buffered.length < 3 + nameLength + 8) return
        socket.off('data', onData)
        socket.pause()
        const op = buffered.toString('latin1', 0, 1)
        const name = path.basename(buffered.toString('utf8', 3, 3 + nameLength))
        const size = Number(buffered.readBigUInt64BE(3 + nameLength))
        const leftover = buffered.subarray(3 + nameLength + 8)
        const handler = op === 'P' ? receive(socket, dir, name, size, leftover, fsync) : send(socket, dir, name)
        handler.catch((error) => {
          process.stderr.write(`${error.stack}\n`)
          socket.destroy()
        })
      }
      socket.on('data', onData)
      socket.on('error', () => socket.destroy())
    })
    .listen(port, '127.0.0.1')
}

async function receive(socket, dir, name, size, first, fsync) {
  const temp = path.join(dir, `.tmp-${name}-${process.hrtime.bigint()}`)
  const out = fs.createWriteStream(temp, {highWaterMark: CHUNK})
  let remaining = size
  if (first.length > 0) {
    out.write(first)
    remaining -= first.length
  }
  await new Promise((resolve, reject) => {
    if (remaining === 0) {
      resolve()
      return
    }
    socket.on('data', (chunk) => {
      remaining -= chunk.length
      if (!out.write(chunk)) {
        socket.pause()
        out.once('drain', () => socket.resume())
      }
      if (remaining <= 0) resolve()
    })
    socket.once('end', () => (remaining > 0 ? reject(new Error('short upload')) : resolve()))
    socket.resume()
  })
  await new Promise((resolve, reject) => {
    out.end((error) => (error ? reject(error) : resolve()))
  })
  if (fsync) fsyncPath(temp)
  fs.renameSync(temp, path.join(dir, name))
  socket.end('K')
}

async function send(socket, dir, name) {
  const file = path.join(dir, name)
  const {size} = fs.statSync(file)
  const head = Buffer.alloc(8)
  head.writeBigUInt64BE(BigInt(size))
  socket.write(head)
  await pipeline(fs.createReadStream(file, {highWaterMark: CHUNK}), socket)
}

function connect() {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: '127.0.0.1', port}, () => resolve(socket))
    socket.once('error', reject)
  })
}

async function put(file, name) {
  const socket = await connect()
  const {size} = fs.statSync(file)
  socket.write(header('P', name, size))
  const answered = new Promise((resolve, reject) => {
    socket.once('data', (chunk) => (chunk[0] === 0x4b ? resolve() : reject(new Error('bad answer'))))
    socket.once('end', () => reject(new Error('closed without an answer')))
  })
  await pipeline(fs.createReadStream(file, {highWaterMark: CHUNK}), socket, {end: false})
  await answered
  socket.destroy()
}

async function get(name, outFile, fsync) {
  const socket = await connect()
  socket.write(header('G', name, 0))
  const out = fs.createWriteStream(outFile, {highWaterMark: CHUNK})
  let head = Buffer.alloc(0)
  let remaining = -1
  await new Promise((resolve, reject) => {
    socket.on('data', (chunk) => {
      if (remaining < 0) {
        head = Buffer.concat([head, chunk])
        if (head.length < 8) return
        remaining = Number(head.readBigUInt64BE(0))
        chunk = head.subarray(8)
      }
      remaining -= chunk.length
      if (chunk.length > 0 && !out.write(chunk)) {
        socket.pause()
        out.once('drain', () => socket.resume())
      }
      if (remaining === 0) resolve()
    })
    socket.once('end', () => (remaining === 0 ? resolve() : reject(new Error('short download'))))
    socket.once('error', reject)
  })
  socket.destroy()
  await new Promise((resolve, reject) => {
    out.end((error) => (error ? reject(error) : resolve()))
  })
  if (fsync) fsyncPath(outFile)
}

const run = {
  server: () => serve(rest[0], rest[1] === 'fsync'),
  put: () => put(rest[0], rest[1]),
  get: () => get(rest[0], rest[1], rest[2] === 'fsync'),
}[mode]
if (!run) {
  process.stderr.write('usage: raw-pipe.js server|put|get ...\n')
  process.exit(2)
}
Promise.resolve(run()).catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`)
  process.exit(1)
})
