// Decode cost against `iss serve` (the built CLI in its own process, so that its memory is its own): the
// instances of issue 18 items 1 and 2 that used to kill or freeze the server. Each attack is bounded
// in connections, bytes and time, on loopback; the server must survive, answer a normal LIST within
// 2 s, and keep its RSS within the bound of docs/security.md ("Cost model").
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import {connect, type Socket} from 'node:net'

import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {removeDir, startIssServer, tempDir, type RunningServer as CliServer} from '../e2e/cli-harness.js'
import {request, roundTrip} from './server-harness.js'

const MiB = 1024 * 1024

/** A process's resident set now and at its peak, from /proc (bytes). */
function rssOf(pid: number): {rss: number; peak: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024
  return {rss: field('VmRSS'), peak: field('VmHWM')}
}

/** Opens a socket that writes `data` and then stays open; resolves once it is connected. */
async function sender(port: number, data: Buffer): Promise<Socket> {
  const socket = connect({host: '127.0.0.1', port})
  socket.on('error', () => {
    // The server may close a refused connection while we still write: that is expected.
  })
  socket.on('data', () => {
    // Read the ERROR answers so that the server's writes never wait on us.
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(data)
  return socket
}

/** Until the socket closes, or `ms` passed. */
async function closedWithin(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

async function timedList(port: number): Promise<number> {
  const started = Date.now()
  const answer = await roundTrip(port, request('LIST', null, null, true))
  expect(answer.STATUS, String(answer.DETAILS)).to.equal('OK')
  return Date.now() - started
}

describe('decode cost: hostile pickles against a running server', function () {
  this.timeout(120_000)
  // The documented bound for this test's server: its baseline, the decode memory (at most 5 MiB a
  // request, 256 MiB in all), a few MiB of transfer buffers per open connection, and 128 MiB of
  // garbage not yet collected.
  const bound = (baseline: number, connections: number) =>
    baseline + Math.min(256 * MiB, connections * 5 * MiB) + connections * 4 * MiB + 128 * MiB
  let server: CliServer
  let storage: string
  const sockets: Socket[] = []

  beforeEach(async () => {
    storage = tempDir('decode-cost')
    server = await startIssServer(storage, ['--min-free', '0', '--log-level', 'warn'])
  })

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await server.stop()
    removeDir(storage)
  })

  it('24 connections of (EMPTY_DICT, MEMOIZE) x 999,000 held open: refused, the server lives and LIST stays fast', async () => {
    const before = rssOf(server.process.pid!)
    const body = Buffer.concat([Buffer.from([0x80, 4, 0x7d]), Buffer.alloc(999_000 * 2)])
    for (let k = 3; k < body.length; k += 2) {
      body[k] = 0x7d
      body[k + 1] = 0x94
    }

    // One byte more than sent: the frame stays open, as if a trickle of POP bytes were to follow.
    const frame = Buffer.concat([frameHeader(body.length + 1, 'big'), body])
    const answered: boolean[] = []
    for (let k = 0; k < 24; k++) {
      const socket = await sender(server.port, frame)
      sockets.push(socket)
      socket.once('data', () => {
        answered.push(true)
      })
    }

    // Each is refused (E_TOO_LARGE, or E_BUSY past the shared budget) once it reaches its bound.
    const deadline = Date.now() + 60_000
    while (answered.length < 24 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(answered.length).to.equal(24)
    // While the 24 connections are still open, a normal client is served.
    const timings: number[] = []
    for (let k = 0; k < 5; k++) {
      timings.push(await timedList(server.port))
      await new Promise((resolve) => setTimeout(resolve, 200))
    }

    const after = rssOf(server.process.pid!)
    console.log(
      `      LIST ${timings.join(', ')} ms; server RSS ${Math.round(before.rss / MiB)} MiB before, ` +
        `peak ${Math.round(after.peak / MiB)} MiB (bound ${Math.round(bound(before.rss, 25) / MiB)} MiB)`,
    )
    expect(server.process.exitCode).to.equal(null)
    for (const ms of timings) expect(ms).to.be.below(2000)
    expect(after.peak).to.be.below(bound(before.rss, 25))
  })

  it('16 loops of 1 MB EMPTY_LIST frames: each refused early, a normal LIST answers within 2 s throughout', async () => {
    const before = rssOf(server.process.pid!)
    const frame = Buffer.concat([frameHeader(1024 * 1024, 'big'), Buffer.alloc(1024 * 1024, ']')])
    const deadline = Date.now() + 8000
    let sent = 0
    // Each loop sends a frame, waits for the server to close it, and starts again 4 s after the last start;
    // the loops start 250 ms apart: 4 MB/s offered in all, over three times the 1.2 MB/s.
    const loop = async (index: number) => {
      await new Promise((resolve) => setTimeout(resolve, index * 250))
      while (Date.now() < deadline) {
        const started = Date.now()
        const socket = await sender(server.port, frame)
        sockets.push(socket)
        sent++
        await closedWithin(socket, 3000)
        socket.destroy()
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + 4000 - Date.now())))
      }
    }

    const loops = Promise.all(Array.from({length: 16}, async (_, index) => loop(index)))
    const timings: number[] = []
    await new Promise((resolve) => setTimeout(resolve, 500))
    while (Date.now() < deadline) {
      timings.push(await timedList(server.port))
      await new Promise((resolve) => setTimeout(resolve, 250))
    }

    await loops
    const after = rssOf(server.process.pid!)
    console.log(
      `      ${sent} frames of 1 MB; LIST ${timings.join(', ')} ms; server RSS ${Math.round(before.rss / MiB)} MiB ` +
        `before, peak ${Math.round(after.peak / MiB)} MiB`,
    )
    expect(server.process.exitCode).to.equal(null)
    expect(sent).to.be.at.least(24)
    expect(timings.length).to.be.at.least(5)
    for (const ms of timings) expect(ms).to.be.below(2000)
    expect(after.peak).to.be.below(bound(before.rss, 17))
  })
})
