'use strict'
// The cheapest possible server for the load generator's self-check: it answers every request with
// a prebuilt response and does nothing else, so the rate measured against it is the ceiling of
// the load generator (sharing this machine's cores the same way a real server does).
//
// Usage: node bench/trivial-server.js PORT iss|http get|put DATA_FILE
const fs = require('node:fs')
const net = require('node:net')
const {FrameSkipper, requestFrame} = require('./lib/iss-wire.js')
const {ResponseSkipper} = require('./lib/http-wire.js')

const [port, proto, op, dataFile] = process.argv.slice(2)
const data = fs.readFileSync(dataFile)

function response() {
  if (proto === 'iss') {
    return requestFrame(
      op === 'get'
        ? {command: 'GET', status: 'OK', filename: 'x.png', data, version: false}
        : {command: 'PUT', status: 'OK', filename: 'x.png', version: false},
    )
  }
  return op === 'get'
    ? [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\nContent-Type: image/png\r\n\r\n`), data]
    : [Buffer.from('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n')]
}

const parts = response()

net
  .createServer((socket) => {
    socket.setNoDelay(true)
    const answer = () => {
      socket.cork()
      for (const part of parts) socket.write(part)
      socket.uncork()
    }
    // An HTTP request is framed like a response (a head, then Content-Length bytes).
    const parser = proto === 'iss' ? new FrameSkipper(answer) : new ResponseSkipper(answer)
    socket.on('data', (chunk) => parser.push(chunk))
    socket.on('error', () => socket.destroy())
  })
  .listen(Number(port), '127.0.0.1')
