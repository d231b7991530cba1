import {expect} from 'chai'
import {mkdirSync, readdirSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {collect, removeDir, runCli, spawnCli, tempDir} from '../e2e/cli-harness.js'
import {pngImage} from '../fixtures/images.js'

/** What the fake server does once a request has arrived on a connection. */
type Behaviour = (socket: net.Socket) => void

/** A TCP server on 127.0.0.1 that answers every first request chunk with `behaviour`. */
async function hostileServer(behaviour: Behaviour): Promise<{port: number; close(): Promise<void>}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.once('data', () => behaviour(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  return {
    port,
    close: async () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

function okResponse(filename: string | null, data: Buffer | null) {
  return encodeFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: filename, FILE_DATA: data})
}

const PNG = pngImage(2000)

describe('iss get against a hostile server', function () {
  this.timeout(60_000)
  let work: string
  let out: string
  let server: {port: number; close(): Promise<void>} | undefined

  beforeEach(() => {
    work = tempDir('hostile')
    out = path.join(work, 'out')
    mkdirSync(out)
  })

  afterEach(async () => {
    await server?.close()
    server = undefined
    removeDir(work)
  })

  /** Runs `iss get cat.png -o out` against the server; the CLI's cwd is `work`. */
  async function getCat(extra: string[] = []) {
    return runCli(['get', 'cat.png', '-o', out, '-p', String(server!.port), ...extra], {cwd: work})
  }

  function expectOneLineFailure(result: {code: number | null; stderr: string; stdout: string}) {
    expect(result.code, result.stderr).to.equal(3)
    const lines = result.stderr.trim().split('\n')
    expect(lines, result.stderr).to.have.length(1)
    expect(lines[0]).to.contain(`127.0.0.1:${server!.port}`)
    expect(result.stderr).to.not.match(/\n\s+at /)
    expect(result.stdout).to.equal('')
  }

  function expectNothingWritten() {
    expect(readdirSync(out)).to.deep.equal([])
    expect(readdirSync(work).sort()).to.deep.equal(['out'])
  }

  it('never writes to a path taken from FILENAME (../x.png)', async () => {
    server = await hostileServer((socket) => socket.end(okResponse('../x.png', PNG)))
    const result = await getCat()
    expectOneLineFailure(result)
    expect(result.stderr).to.contain('../x.png')
    expectNothingWritten()
  })

  it('saves under the name the user typed when FILENAME differs only in case', async () => {
    server = await hostileServer((socket) => socket.write(okResponse('CAT.PNG', PNG)))
    const result = await getCat()
    expect(result.code, result.stderr).to.equal(0)
    expect(readdirSync(out)).to.deep.equal(['cat.png'])
  })

  it('refuses an oversized frame header before allocating it', async () => {
    server = await hostileServer((socket) => {
      const header = Buffer.alloc(4)
      header.writeUInt32BE(0xffff_fff0)
      socket.write(Buffer.concat([header, Buffer.alloc(1024)]))
    })
    const result = await getCat(['--max-size', '1000000'])
    expectOneLineFailure(result)
    expectNothingWritten()
  })

  it('iss list refuses a frame of 100 MiB from its header (a listing has no image in it)', async () => {
    // 100 MiB + 255: over the limit in both byte orders, as the client does not know the server's.
    const header = Buffer.alloc(4)
    header.writeUInt32BE(100 * 1024 * 1024 + 255)
    expect(header.readUInt32LE(0)).to.be.above(100 * 1024 * 1024)
    server = await hostileServer((socket) => {
      socket.write(Buffer.concat([header, Buffer.alloc(64 * 1024)]))
    })
    const started = Date.now()
    const result = await runCli(['list', '-p', String(server.port)], {cwd: work})
    expectOneLineFailure(result)
    // Refused at once, not after waiting (--timeout, 30 s) for the rest of the frame.
    expect(Date.now() - started).to.be.below(10_000)
    expect(result.stderr).to.contain('over the limit')
  })

  it('refuses FILE_DATA over --max-size as it is announced', async () => {
    const big = 64 * 1024 * 1024
    server = await hostileServer((socket) => {
      const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'cat.png'}, big)
      socket.write(head)
      // Then keep sending: the client must stop reading and close, not buffer it.
      const chunk = Buffer.alloc(1024 * 1024)
      let sent = 0
      const pump = () => {
        while (sent < big && !socket.destroyed) {
          sent += chunk.length
          if (!socket.write(chunk)) return socket.once('drain', pump)
        }
      }
      pump()
    })
    const result = await getCat(['--max-size', '100000'])
    expectOneLineFailure(result)
    expect(result.stderr).to.contain('--max-size')
    expectNothingWritten()
  })

  it('gives up on garbage (an HTTP answer)', async () => {
    server = await hostileServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'))
    const result = await getCat()
    expectOneLineFailure(result)
    expectNothingWritten()
  })

  it('leaves no file when the response ends mid FILE_DATA', async () => {
    server = await hostileServer((socket) => {
      const {head} = encodeStreamingFrame(
        {COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'cat.png'},
        PNG.length,
      )
      socket.end(Buffer.concat([head, PNG.subarray(0, 1000)]))
    })
    const result = await getCat()
    expectOneLineFailure(result)
    expectNothingWritten()
  })

  it('times out when no response comes (--timeout)', async () => {
    server = await hostileServer(() => {})
    const started = Date.now()
    const result = await getCat(['--timeout', '1'])
    expectOneLineFailure(result)
    expect(Date.now() - started).to.be.below(15_000)
    expectNothingWritten()
  })

  it('treats a response nobody asked for as a protocol failure', async () => {
    server = await hostileServer((socket) => {
      const list = encodeFrame({COMMAND: 'LIST', STATUS: 'OK', DETAILS: ['a.png'], FILENAME: null, FILE_DATA: null})
      socket.write(Buffer.concat([okResponse('cat.png', PNG), list]))
    })
    // Two names: the second request's answer may be the stray frame; whichever, no file is invented.
    const result = await runCli(['get', 'cat.png', 'dog.png', '-o', out, '-p', String(server.port)], {cwd: work})
    expect(result.code).to.equal(3)
    expect(readdirSync(out)).to.deep.equal(['cat.png'])
  })

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`removes the part file on ${signal} mid-GET and exits ${code}`, async () => {
      server = await hostileServer((socket) => {
        const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'cat.png'}, 10_000)
        socket.write(Buffer.concat([head, PNG.subarray(0, 1500)]))
      })
      const child = spawnCli(['get', 'cat.png', '-o', out, '-p', String(server.port)], {cwd: work})
      const done = collect(child, 20_000)
      await waitFor(() => readdirSync(out).some((name) => name.endsWith('.part')))
      child.kill(signal)
      const result = await done
      expect(result.code, result.stderr).to.equal(code)
      expect(readdirSync(out)).to.deep.equal([])
    })
  }

  it('after SIGKILL mid-GET nothing is under the final name, and the next get sweeps the part file', async () => {
    server = await hostileServer((socket) => {
      const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'cat.png'}, 10_000)
      socket.write(Buffer.concat([head, PNG.subarray(0, 1500)]))
    })
    const child = spawnCli(['get', 'cat.png', '-o', out, '-p', String(server.port)], {cwd: work})
    const done = collect(child, 20_000)
    await waitFor(() => readdirSync(out).some((name) => name.endsWith('.part')))
    child.kill('SIGKILL')
    await done
    const left = readdirSync(out)
    expect(left).to.have.length(1)
    expect(left[0]).to.match(/^\.cat\.png\.iss-\d+-[\da-f]+\.part$/)

    await server.close()
    server = await hostileServer((socket) => socket.write(okResponse('cat.png', PNG)))
    const result = await getCat()
    expect(result.code, result.stderr).to.equal(0)
    expect(readdirSync(out)).to.deep.equal(['cat.png'])
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
