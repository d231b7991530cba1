'use strict'
// A closed-loop load generator that speaks both the iss protocol and HTTP/1.1 keep-alive, run as
// its own process: each of N connections sends one request, waits for the whole response, records
// the latency and sends the next, for a warm-up and then a measured window.
//
// Usage: node bench/loadgen.js '<json>' ; prints one JSON result line on stdout.
// json: {proto: 'iss'|'http', op: 'get'|'put', port, connections, warmupMs, durationMs,
//        dataFile, getName, namePrefix, maxOps}
const fs = require('node:fs')
const net = require('node:net')
const {requestFrame, FrameSkipper, responseStatus} = require('./lib/iss-wire.js')
const {httpRequest, ResponseSkipper} = require('./lib/http-wire.js')
const {quantileSorted} = require('./lib/stats.js')

const config = JSON.parse(process.argv[2])
const data = fs.readFileSync(config.dataFile)
const maxOps = config.maxOps ?? Infinity
const latencies = []
let measuring = false
let stopping = false
let measuredOps = 0
let totalOps = 0
let errors = 0
let firstError = null
let measureStart = 0n
let measureEnd = 0n
let lastMeasuredAt = 0n

function fail(message) {
  errors++
  firstError ??= message
}

function buildRequest(index, seq) {
  const name = config.op === 'put' ? `${config.namePrefix}-${index}-${seq}.png` : config.getName
  if (config.proto === 'iss') {
    return requestFrame(config.op === 'put' ? {command: 'PUT', filename: name, data} : {command: 'GET', filename: name})
  }
  return config.op === 'put' ? httpRequest('PUT', `/${name}`, data) : httpRequest('GET', `/${name}`)
}

function responseOk(status, length) {
  if (config.proto === 'iss') return status === 'OK' && (config.op === 'put' || length >= data.length)
  return config.op === 'put' ? status === 201 || status === 204 : status === 200 && length === data.length
}

function runConnection(index) {
  return new Promise((resolve) => {
    let seq = 0
    let sentAt = 0n
    const socket = net.connect({host: '127.0.0.1', port: config.port})
    socket.setNoDelay(true)
    const send = () => {
      if (stopping || totalOps >= maxOps) {
        socket.end()
        return
      }
      totalOps++
      const parts = buildRequest(index, seq++)
      sentAt = process.hrtime.bigint()
      socket.cork()
      for (const part of parts) socket.write(part)
      socket.uncork()
    }
    const done = (status, length) => {
      const now = process.hrtime.bigint()
      if (!responseOk(status, length)) fail(`${config.proto} ${config.op}: status ${status}, ${length} bytes`)
      else if (measuring && now <= measureEnd) {
        measuredOps++
        lastMeasuredAt = now
        latencies.push(Number(now - sentAt) / 1e6)
      }
      send()
    }
    const parser =
      config.proto === 'iss'
        ? new FrameSkipper((length, head, tail) => done(responseStatus(head, tail), length))
        : new ResponseSkipper(done)
    socket.on('connect', send)
    socket.on('data', (chunk) => {
      try {
        parser.push(chunk)
      } catch (error) {
        fail(String(error))
        socket.destroy()
      }
    })
    socket.on('error', (error) => fail(`connection ${index}: ${error.message}`))
    socket.on('close', () => resolve())
  })
}

async function main() {
  const connections = []
  for (let i = 0; i < config.connections; i++) connections.push(runConnection(i))
  await new Promise((resolve) => {
    setTimeout(resolve, config.warmupMs ?? 0)
  })
  measuring = true
  measureStart = process.hrtime.bigint()
  measureEnd = measureStart + BigInt(config.durationMs) * 1_000_000n
  await new Promise((resolve) => {
    setTimeout(resolve, config.durationMs)
  })
  stopping = true
  const stoppedAt = process.hrtime.bigint()
  // Connections finish the request they have in flight; a stuck one must not hang the bench.
  await Promise.race([
    Promise.all(connections),
    new Promise((resolve) => {
      setTimeout(resolve, 10_000).unref()
    }),
  ])
  const capped = totalOps >= maxOps
  // Capped (to bound disk use), the window ends with the last answered request.
  // eslint-disable-next-line unicorn/prefer-math-min-max -- hrtime bigints: Math.min throws on BigInt
  const runEnd = stoppedAt < measureEnd ? stoppedAt : measureEnd
  const windowEnd = capped && lastMeasuredAt > 0n ? lastMeasuredAt : runEnd
  const seconds = Number(windowEnd - measureStart) / 1e9
  // eslint-disable-next-line unicorn/require-array-sort-compare -- a Float64Array sorts numerically
  const sorted = Float64Array.from(latencies).sort()
  const result = {
    proto: config.proto,
    op: config.op,
    connections: config.connections,
    ops: measuredOps,
    seconds,
    opsPerSec: measuredOps / seconds,
    p50Ms: quantileSorted(sorted, 0.5),
    p99Ms: quantileSorted(sorted, 0.99),
    maxMs: sorted.length > 0 ? sorted.at(-1) : null,
    totalOps,
    errors,
    firstError,
    cappedByMaxOps: capped,
  }
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(0)
}

main().catch((error) => {
  process.stderr.write(String(error?.stack ?? error) + '\n')
  process.exit(1)
})
