// The client trusts no server: against servers that trickle, never finish a frame, send a dict bomb or a
// name built to make NFC quadratic, every request ends within --timeout plus CLIENT_MIN_RATE's allowance
// plus SLACK_MS, in bounded memory. (Escaping what a server says is printable()'s job, checked here too.)
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import net from 'node:net'
import path from 'node:path'

import {isIssError} from '../../src/core/errors.js'
import {identityKey} from '../../src/core/images/names.js'
import {printable} from '../../src/core/printable.js'
import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {
  CLIENT_MIN_RATE,
  ClientConnection,
  type ConnectionError,
  requestDeadlineMs,
} from '../../src/core/transport/client-connection.js'

/** What the documented bound allows beyond the deadline: scheduling on a busy machine. */
const SLACK_MS = 2000

/** 'a', 262,000 x U+0301, 262,000 x U+0334, '.png': the shape that made NFC take minutes. */
const QUADRATIC_NFC_NAME = 'a' + '\u{301}'.repeat(262_000) + '\u{334}'.repeat(262_000) + '.png'

interface FakeServer {
  port: number
  close(): Promise<void>
}

/** A server on 127.0.0.1 that runs `behaviour` once a request's first bytes arrive; every timer it sets is cleared on close. */
async function fakeServer(behaviour: (socket: net.Socket, timers: Set<NodeJS.Timeout>) => void): Promise<FakeServer> {
  const sockets = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.once('data', () => behaviour(socket, timers))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const timer of timers) clearInterval(timer)
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** Writes `byte` every `everyMs` until the socket closes (at most `count` times). */
function trickle(socket: net.Socket, timers: Set<NodeJS.Timeout>, byte: number, everyMs: number, count = 1000) {
  let sent = 0
  const timer = setInterval(() => {
    if (socket.destroyed || sent++ >= count) {
      clearInterval(timer)
      return
    }
    socket.write(Buffer.from([byte]))
  }, everyMs)
  timers.add(timer)
  socket.on('close', () => clearInterval(timer))
}

async function connect(port: number, timeoutMs: number): Promise<ClientConnection> {
  return ClientConnection.connect({host: '127.0.0.1', port, timeoutMs, byteOrder: 'big', maxSize: 256 * 1024 * 1024})
}

/** Runs `work` and returns how long it took and what it threw (or undefined). */
async function timed(work: () => Promise<unknown>): Promise<{ms: number; error: unknown; value: unknown}> {
  const started = Date.now()
  try {
    const value = await work()
    return {ms: Date.now() - started, error: undefined, value}
  } catch (error) {
    return {ms: Date.now() - started, error, value: undefined}
  }
}

/** One request in a child process (test/integration/client-child.ts): its outcome, time and peak RSS. */
async function childRequest(
  port: number,
  timeoutMs: number,
  command: string,
): Promise<{outcome: string; kind: string | null; ms: number; maxRssBytes: number}> {
  const script = path.join(__dirname, 'client-child.js')
  const child = spawn(process.execPath, [script, String(port), String(timeoutMs), command], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text))
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 30_000)
  await new Promise((resolve) => child.once('close', resolve))
  clearTimeout(killer)
  return JSON.parse(out) as {outcome: string; kind: string | null; ms: number; maxRssBytes: number}
}

describe('client connection against a hostile server (time and memory)', function () {
  this.timeout(60_000)
  let server: FakeServer | undefined

  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('documents its minimum rate: --timeout plus 1 s per 64 KiB of FILE_DATA', () => {
    expect(CLIENT_MIN_RATE).to.equal(64 * 1024)
    expect(requestDeadlineMs(30_000, 0)).to.equal(30_000)
    expect(requestDeadlineMs(30_000, 64 * 1024 * 10)).to.equal(40_000)
  })

  it('ends a never-ending frame (a byte every 250 ms, under the --timeout gap) at --timeout', async () => {
    server = await fakeServer((socket, timers) => {
      // A frame of 1 MB whose DETAILS string never completes.
      socket.write(frameHeader(1_000_000, 'big'))
      socket.write(
        Buffer.from([0x80, 0x04, 0x7d, 0x28, 0x8c, 7, ...Buffer.from('DETAILS'), 0x58, 0xa0, 0xbb, 0x0d, 0x00]),
      )
      trickle(socket, timers, 0x61, 250)
    })
    const connection = await connect(server.port, 1000)
    const {ms, error} = await timed(async () => connection.request(listRequest()))
    expect((error as ConnectionError).kind).to.equal('timeout')
    expect((error as Error).message).to.match(/did not complete the request within 1 s/)
    expect(ms).to.be.below(1000 + SLACK_MS)
  })

  it('gives announced FILE_DATA its time at the minimum rate, then ends a trickle', async () => {
    const announced = 128 * 1024 // two more seconds at 64 KiB/s
    server = await fakeServer((socket, timers) => {
      const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'x.png'}, announced)
      socket.write(head)
      trickle(socket, timers, 0x5a, 250)
    })
    const connection = await connect(server.port, 1000)
    const {ms, error} = await timed(async () => connection.request(getRequest()))
    expect((error as ConnectionError).kind).to.equal('timeout')
    expect((error as Error).message).to.match(/within 3 s/)
    // Not cut at the bare --timeout: a slow but steady download above the minimum rate may finish.
    expect(ms).to.be.at.least(2500)
    expect(ms).to.be.below(requestDeadlineMs(1000, announced) + SLACK_MS)
  })

  it('refuses a dict bomb ((EMPTY_DICT, MEMOIZE) x 999,000, held open by a trickle) quickly and in bounded memory', async () => {
    const pairs = 999_000
    server = await fakeServer((socket, timers) => {
      const body = Buffer.alloc(2 + 2 * pairs)
      body[0] = 0x80
      body[1] = 0x04
      for (let i = 0; i < pairs; i++) {
        body[2 + 2 * i] = 0x7d // EMPTY_DICT
        body[3 + 2 * i] = 0x94 // MEMOIZE
      }
      socket.write(frameHeader(body.length + 10_000, 'big'))
      socket.write(body)
      trickle(socket, timers, 0x30, 200) // POP
    })
    const result = await childRequest(server.port, 5000, 'LIST')
    expect(result.outcome).to.equal('error')
    expect(result.kind).to.equal('protocol')
    expect(result.ms).to.be.below(5000 + SLACK_MS)
    // A Node process starts at about 50 MB; the limits keep the decoded answer to a few tens of MB.
    expect(result.maxRssBytes).to.be.below(200 * 1024 * 1024)
  })

  it('takes a FILENAME built to make NFC quadratic, and the name check refuses it at once', async () => {
    server = await fakeServer((socket) => {
      socket.write(
        encodeFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: QUADRATIC_NFC_NAME, FILE_DATA: null}),
      )
    })
    const connection = await connect(server.port, 2000)
    const {ms, error, value} = await timed(async () => {
      const message = await connection.request(getRequest())
      // What `iss get` does with the answer's FILENAME: compare identities with the name asked for.
      return identityKey(message.FILENAME!)
    })
    connection.close()
    expect(value).to.equal(undefined)
    expect(isIssError(error) && error.code).to.equal('E_BAD_NAME')
    expect(ms).to.be.below(2000 + SLACK_MS)
  })

  it('hands escape sequences and bidi controls over as data, and printable() shows none of them raw', async () => {
    const hostile = [
      '\u{1B}]0;pwned\u{7}title.png',
      '\u{1B}]8;;https://example.invalid\u{7}link\u{1B}]8;;\u{7}.png',
      '\u{1B}[2J\u{1B}[Hclear.png',
      'forged\nentry.png',
      '\u{9B}31mred.png',
      'a\u{202E}gnp.exe.png',
    ]
    server = await fakeServer((socket) => {
      socket.write(encodeFrame({COMMAND: 'LIST', STATUS: 'OK', DETAILS: hostile, FILENAME: null, FILE_DATA: null}))
    })
    const connection = await connect(server.port, 2000)
    const {ms, value} = await timed(async () => connection.request(listRequest()))
    connection.close()
    expect(ms).to.be.below(2000 + SLACK_MS)
    const details = (value as {DETAILS: string[]}).DETAILS
    expect(details).to.deep.equal(hostile)
    for (const name of details) {
      // eslint-disable-next-line no-control-regex -- the test is that none of these reach a terminal
      expect(printable(name)).not.to.match(/[\u{0}-\u{1F}\u{7F}-\u{9F}\u{202A}-\u{202E}\u{2066}-\u{2069}]/u)
    }
  })
})

function listRequest() {
  return {COMMAND: 'LIST', STATUS: 'REQUEST', DETAILS: null, FILENAME: null, FILE_DATA: null}
}

function getRequest() {
  return {COMMAND: 'GET', STATUS: 'REQUEST', DETAILS: null, FILENAME: 'x.png', FILE_DATA: null}
}
