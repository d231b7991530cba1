// `iss get` against hostile servers, timed from the server's side (from the request's arrival to the
// client closing its connection, so the CLI's own start-up does not count): each ends within --timeout
// (plus 1 s per 64 KiB of announced image data) plus SLACK_MS, and leaves no file.
import {expect} from 'chai'
import {readdirSync} from 'node:fs'
import net from 'node:net'

import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {collect, removeDir, spawnCli, tempDir} from './cli-harness.js'

const SLACK_MS = 2000

/** 'a', 262,000 x U+0301, 262,000 x U+0334, '.png': the shape that made NFC take minutes. */
const QUADRATIC_NFC_NAME = 'a' + '\u{301}'.repeat(262_000) + '\u{334}'.repeat(262_000) + '.png'

interface Timed {
  port: number
  /** Ms from the request's first bytes to the client's close, once it has closed. */
  served: Promise<number>
  close(): Promise<void>
}

async function timedServer(behaviour: (socket: net.Socket, timers: Set<NodeJS.Timeout>) => void): Promise<Timed> {
  const sockets = new Set<net.Socket>()
  const timers = new Set<NodeJS.Timeout>()
  let resolveServed: (ms: number) => void = () => {}
  // eslint-disable-next-line unicorn/prefer-promise-with-resolvers -- tsconfig lib is es2023, which does not type Promise.withResolvers
  const served = new Promise<number>((resolve) => {
    resolveServed = resolve
  })
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('data', () => {
      const arrived = Date.now()
      socket.once('close', () => resolveServed(Date.now() - arrived))
      behaviour(socket, timers)
    })
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    served,
    async close() {
      for (const timer of timers) clearInterval(timer)
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe('iss get against a hostile server: bounded in time', function () {
  this.timeout(120_000)
  let work: string
  let server: Timed | undefined

  beforeEach(() => {
    work = tempDir('cli-hostile')
  })

  afterEach(async () => {
    await server?.close()
    server = undefined
    removeDir(work)
  })

  async function get(timeoutS: number) {
    const child = spawnCli([
      'get',
      'x.png',
      '-o',
      work,
      '-H',
      '127.0.0.1',
      '-p',
      String(server!.port),
      '--timeout',
      String(timeoutS),
    ])
    return collect(child, 90_000)
  }

  it('stops at once on a FILENAME built to make NFC quadratic (it took 17-20 s, ignoring --timeout)', async () => {
    server = await timedServer((socket) => {
      socket.write(
        encodeFrame({
          COMMAND: 'GET',
          STATUS: 'OK',
          DETAILS: null,
          FILENAME: QUADRATIC_NFC_NAME,
          FILE_DATA: Buffer.from('x'),
        }),
      )
    })
    const result = await get(2)
    expect(result.code).to.not.equal(0)
    expect(await server.served).to.be.below(2000 + SLACK_MS)
    expect(readdirSync(work)).to.deep.equal([])
  })

  it('ends a trickle of one byte every 700 ms (under the 1 s --timeout gap) by the request deadline', async () => {
    const announced = 64 * 1024 // one more second
    server = await timedServer((socket, timers) => {
      const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'x.png'}, announced)
      socket.write(head)
      const timer = setInterval(() => socket.destroyed || socket.write(Buffer.from([0x5a])), 700)
      timers.add(timer)
    })
    const result = await get(1)
    expect(result.code).to.not.equal(0)
    expect(result.stderr).to.match(/did not complete the request within 2 s/)
    expect(await server.served).to.be.below(2000 + SLACK_MS)
    expect(readdirSync(work)).to.deep.equal([])
  })
})
