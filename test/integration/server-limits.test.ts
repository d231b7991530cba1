import {expect} from 'chai'
import {readdirSync} from 'node:fs'

import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {eventually, png, RawClient, request, roundTrip, type RunningServer, startServer} from './server-harness.js'

function visible(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.'))
}

describe('iss serve: limits, timeouts and the connection limit', function () {
  this.timeout(60_000)
  let running: RunningServer | null = null

  afterEach(async () => {
    await running?.stop()
    running = null
  })

  it('a frame announced over the limit is answered E_TOO_LARGE even to a client that writes it all first', async () => {
    running = await startServer({maxSize: 64 * 1024})
    const client = await RawClient.connect(running.port)
    // 300 KiB frame > 2 * 64 KiB + 64 KiB: refused from its header alone.
    await client.write(encodeFrame(request('PUT', 'big.png', png(300 * 1024)), {protocol: 4}))
    const answer = await client.read()
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.DETAILS).to.be.a('string').that.matches(/limit/)
    expect(await client.waitClosed()).to.equal(true)
    expect(client.error).to.equal(null)
    expect(visible(running.storage)).to.deep.equal([])
  })

  it('FILE_DATA over --max-size in a frame under the limit is answered E_TOO_LARGE, nothing stored', async () => {
    running = await startServer({maxSize: 64 * 1024})
    for (const protocol of [2, 4] as const) {
      const client = await RawClient.connect(running.port)
      await client.write(encodeFrame(request('PUT', `big${protocol}.png`, png(100 * 1024)), {protocol}))
      const answer = await client.read()
      expect(answer.STATUS, `protocol ${protocol}`).to.equal('ERROR')
      expect(answer.DETAILS).to.be.a('string').that.matches(/limit/)
      expect(await client.waitClosed()).to.equal(true)
    }

    expect(visible(running.storage)).to.deep.equal([])
    expect((await roundTrip(running.port, request('LIST'))).STATUS).to.equal('OK')
  })

  it('several hundred idle connections do not stop a new client, with or without the connection limit', async () => {
    for (const maxConnections of [1000, 50]) {
      running = await startServer({maxConnections})
      const idle = await Promise.all(Array.from({length: 300}, async () => RawClient.connect(running!.port)))
      try {
        const answer = await roundTrip(running.port, request('LIST'))
        expect(answer.STATUS, `max ${maxConnections}`).to.equal('OK')
        expect(running.server.transport.connectionCount).to.be.at.most(Math.min(maxConnections, 301))
        if (maxConnections === 50) {
          // The oldest idle ones made room; the newest are still open.
          expect(await eventually(() => idle.filter((client) => client.closed).length >= 250)).to.equal(true)
        }
      } finally {
        for (const client of idle) client.close()
      }

      await running.stop()
      running = null
    }
  })

  it('with every connection busy, a newcomer gets E_BUSY and a close', async () => {
    running = await startServer({maxConnections: 2})
    const busy = await Promise.all([RawClient.connect(running.port), RawClient.connect(running.port)])
    for (const client of busy) {
      // A request in progress: a frame header and part of its pickle.
      const frame = encodeFrame(request('PUT', 'slow.png', png(10_000)), {protocol: 4})
      await client.write(frame.subarray(0, 100))
    }

    expect(await eventually(() => running!.server.transport.connectionCount === 2)).to.equal(true)
    for (const byteOrder of ['big', 'little'] as const) {
      const newcomer = await RawClient.connect(running.port)
      newcomer.send(request('LIST'), {byteOrder})
      const answer = await newcomer.read()
      expect(answer.STATUS).to.equal('ERROR')
      expect(answer.DETAILS).to.match(/busy/i)
      expect(await newcomer.waitClosed()).to.equal(true)
    }

    for (const client of busy) client.close()
    expect(await eventually(() => running!.server.transport.connectionCount === 0)).to.equal(true)
    expect((await roundTrip(running.port, request('LIST'))).STATUS).to.equal('OK')
  })

  it('an idle connection is closed after --idle-timeout', async () => {
    running = await startServer({idleTimeoutMs: 300})
    const client = await RawClient.connect(running.port)
    client.send(request('LIST'))
    expect((await client.read()).STATUS).to.equal('OK')
    const started = Date.now()
    expect(await client.waitClosed(5000)).to.equal(true)
    expect(Date.now() - started).to.be.within(150, 3000)
  })

  it('a slow sender is cut off by the minimum rate with an ERROR, and its upload leaves nothing', async () => {
    running = await startServer({minRateBytes: 2000, rateWindowMs: 400})
    const client = await RawClient.connect(running.port)
    const frame = encodeFrame(request('PUT', 'trickle.png', png(20_000)), {protocol: 4})
    await client.write(frame.subarray(0, 200))
    const started = Date.now()
    // 10 bytes every 100 ms is 40 bytes per window, far under 2000.
    for (let i = 0; i < 40 && !client.closed; i++) {
      await client.write(frame.subarray(200 + i * 10, 210 + i * 10))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const answer = await client.read(1000)
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.DETAILS).to.match(/too slow/)
    expect(await client.waitClosed()).to.equal(true)
    expect(Date.now() - started).to.be.below(3000)
    expect(visible(running.storage)).to.deep.equal([])
  })

  it('a fast upload on the same limits is not cut off', async () => {
    running = await startServer({minRateBytes: 2000, rateWindowMs: 400, maxSize: 4 * 1024 * 1024})
    const answer = await roundTrip(running.port, request('PUT', 'fast.png', png(3 * 1024 * 1024)))
    expect(answer.STATUS).to.equal('OK')
  })

  it('a client that does not read its GET is cut off by the minimum rate', async () => {
    running = await startServer({maxSize: 32 * 1024 * 1024, minRateBytes: 64 * 1024, rateWindowMs: 400})
    const image = png(24 * 1024 * 1024)
    expect((await roundTrip(running.port, request('PUT', 'huge.png', image))).STATUS).to.equal('OK')
    const client = await RawClient.connect(running.port)
    client.socket.pause()
    client.send(request('GET', 'huge.png'))
    expect(await eventually(() => running!.server.transport.connectionCount === 0, 8000)).to.equal(true)
    client.close()
  })

  it('a streamed frame header with a partial pickle split at every few bytes still parses', async () => {
    running = await startServer()
    const client = await RawClient.connect(running.port)
    const {head, tail} = encodeStreamingFrame(request('PUT', 'split.png', null), 1000, {protocol: 4})
    const whole = Buffer.concat([head, png(1000), tail])
    for (let offset = 0; offset < whole.length; offset += 97) await client.write(whole.subarray(offset, offset + 97))
    expect((await client.read()).STATUS).to.equal('OK')
    client.close()
  })

  it('a truncated header followed by a close leaves the server serving', async () => {
    running = await startServer()
    const client = await RawClient.connect(running.port)
    await client.write(frameHeader(1000).subarray(0, 2))
    client.close()
    expect((await roundTrip(running.port, request('LIST'))).STATUS).to.equal('OK')
  })
})
