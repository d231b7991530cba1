// kill -9 in the middle of transfers, on both ends, at random points: no partial file is ever visible
// under a final name, temporary files are swept, and every file stored earlier is intact (sha256).
import {expect} from 'chai'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer, connect, type Server, type Socket} from 'node:net'
import {join} from 'node:path'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {
  collect,
  removeDir,
  spawnCli,
  startIssServer,
  tempDir,
  type RunningServer as CliServer,
} from '../e2e/cli-harness.js'
import {pngHead} from '../fixtures/images.js'
import {eventually, RawClient, request, roundTrip, startServer} from './server-harness.js'

/** Rounds of the server kill loop: 20 in npm test, ISS_CRASH_ROUNDS=100 for the long mode. */
const ROUNDS = Number(process.env.ISS_CRASH_ROUNDS ?? 20)
const MiB = 1024 * 1024

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function visible(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort()
}

function tempFiles(storage: string): string[] {
  return existsSync(join(storage, '.iss-tmp')) ? readdirSync(join(storage, '.iss-tmp')) : []
}

/** PNG signature, then random bytes (random so that a mix-up of two files cannot pass a hash check). */
function image(size: number): Buffer {
  const data = randomBytes(size)
  pngHead().copy(data)
  return data
}

async function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sends `bytes` in 128 KiB pieces with a short pause between them; stops once `stopAt` bytes are out. */
async function throttledSend(client: RawClient, bytes: Buffer, stopAt: number): Promise<void> {
  const piece = 128 * 1024
  for (let at = 0; at < Math.min(stopAt, bytes.length) && !client.closed; at += piece) {
    await client.write(bytes.subarray(at, Math.min(at + piece, stopAt)))
    await sleep(2)
  }
}

/** A TCP relay that passes at most `bytesPerSecond` each way, so that a kill lands mid-transfer. */
async function throttlingProxy(targetPort: number, bytesPerSecond: number): Promise<{port: number; close(): void}> {
  const sockets = new Set<Socket>()
  const pump = (from: Socket, to: Socket) => {
    const perTick = Math.max(1, Math.round(bytesPerSecond / 50))
    let queue: Buffer[] = []
    let queued = 0
    from.on('data', (chunk: Buffer) => {
      queue.push(chunk)
      queued += chunk.length
      if (queued > 4 * perTick) from.pause()
    })
    const timer = setInterval(() => {
      let budget = perTick
      while (budget > 0 && queue.length > 0) {
        const head = queue[0]
        const take = Math.min(budget, head.length)
        to.write(head.subarray(0, take))
        budget -= take
        queued -= take
        if (take === head.length) queue.shift()
        else queue[0] = head.subarray(take)
      }

      if (queued <= 4 * perTick) from.resume()
    }, 20)
    const stop = () => {
      clearInterval(timer)
      queue = []
      to.destroy()
    }

    // A peer that went away (killed) takes what is still queued with it, as if the relay were not there:
    // otherwise the kernel buffers of a killed client could still deliver a whole upload.
    from.on('end', stop)
    from.on('close', stop)
    from.on('error', stop)
  }

  const server: Server = createServer((client) => {
    const upstream = connect({port: targetPort, host: '127.0.0.1'})
    sockets.add(client).add(upstream)
    pump(client, upstream)
    pump(upstream, client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as {port: number}).port,
    close() {
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

describe('crash consistency: kill -9 mid-transfer', function () {
  this.timeout(Math.max(240_000, ROUNDS * 8000))
  const cleanup: Array<() => Promise<void> | void> = []

  afterEach(async () => {
    for (const step of cleanup.splice(0).toReversed()) await step()
  })

  it(`the server killed (SIGKILL) mid-PUT ${ROUNDS} times at random points: nothing partial, temp swept, earlier files intact`, async () => {
    const storage = tempDir('crash')
    cleanup.push(() => {
      removeDir(storage)
    })
    const args = ['--max-size', '16MiB', '--min-free', '0', '--log-level', 'warn']
    const stored = new Map<string, string>()
    let server: CliServer = await startIssServer(storage, args)
    cleanup.push(() => {
      server.process.kill('SIGKILL')
    })
    let partialAtKill = 0
    let completedBeforeKill = 0
    for (let round = 0; round < ROUNDS; round++) {
      // An earlier file, stored normally.
      const earlier = image(20_000 + round * 100)
      const earlierName = `earlier-${round}.png`
      expect((await roundTrip(server.port, request('PUT', earlierName, earlier, true))).STATUS).to.equal('OK')
      stored.set(earlierName, sha256(earlier))

      // A 2 to 8 MiB upload, killed at a random point: anywhere in the bytes, or after the last one (publishing).
      const data = image((2 + Math.floor(Math.random() * 7)) * MiB)
      const name = `victim-${round}.png`
      const frame = encodeFrame(request('PUT', name, data, true), {protocol: round % 2 === 0 ? 4 : 5})
      const isAllSent = Math.random() < 0.15
      const stopAt = isAllSent ? frame.length : Math.floor(frame.length * (0.05 + 0.9 * Math.random()))
      const client = await RawClient.connect(server.port)
      await throttledSend(client, frame, stopAt)
      if (isAllSent) await sleep(Math.floor(Math.random() * 30))
      else await eventually(() => tempFiles(storage).length > 0, 2000)
      server.process.kill('SIGKILL')
      await new Promise((resolve) => server.process.once('exit', resolve))
      client.close()
      if (tempFiles(storage).length > 0) partialAtKill++

      // Before the restart: the victim is absent or whole, never partial, under its final name.
      const check = () => {
        const names = visible(storage)
        const expected = [...stored.keys()]
        const extra = names.filter((n) => !stored.has(n))
        expect(
          extra.filter((n) => n !== name),
          `round ${round}: unexpected files`,
        ).to.deep.equal([])
        for (const n of expected)
          expect(sha256(readFileSync(join(storage, n))), `round ${round}: ${n}`).to.equal(stored.get(n))
        if (extra.includes(name)) {
          expect(sha256(readFileSync(join(storage, name))), `round ${round}: ${name} is partial`).to.equal(sha256(data))
          return true
        }

        return false
      }

      check()
      server = await startIssServer(storage, args)
      expect(tempFiles(storage), `round ${round}: temp files swept at start`).to.deep.equal([])
      const isWhole = check()
      if (isWhole) {
        completedBeforeKill++
        stored.set(name, sha256(data))
      }

      const list = await roundTrip(server.port, request('LIST', null, null, true))
      expect(list.DETAILS, `round ${round}: LIST`).to.have.members([...stored.keys()])
      // One earlier file read back through the server.
      const pick = [...stored.keys()][Math.floor(Math.random() * stored.size)]
      const get = await roundTrip(server.port, request('GET', pick, null, true))
      expect(sha256(get.FILE_DATA as Buffer), `round ${round}: GET ${pick}`).to.equal(stored.get(pick))
    }

    console.log(
      `      ${ROUNDS} kills: ${partialAtKill} with a partial temp file at the kill, ${completedBeforeKill} published before it`,
    )
    // The kills really landed mid-transfer most of the time.
    expect(partialAtKill).to.be.at.least(Math.ceil(ROUNDS / 2))
    await server.stop()
  })

  it('a client (iss put) killed mid-PUT: the server keeps nothing partial, removes its temp file and keeps serving', async () => {
    const work = tempDir('crash-put')
    cleanup.push(() => {
      removeDir(work)
    })
    const running = await startServer({maxSize: 16 * MiB})
    cleanup.push(async () => running.stop())
    const proxy = await throttlingProxy(running.port, 4 * MiB)
    cleanup.push(() => {
      proxy.close()
    })
    for (let round = 0; round < 3; round++) {
      const file = join(work, `big-${round}.png`)
      writeFileSync(file, image(12 * MiB))
      const child = spawnCli(['put', file, '-p', String(proxy.port)], {cwd: work})
      const done = collect(child, 30_000).catch(() => undefined)
      expect(await eventually(() => tempFiles(running.storage).length > 0, 15_000), 'upload started').to.equal(true)
      await sleep(Math.floor(Math.random() * 400))
      child.kill('SIGKILL')
      await done
      expect(await eventually(() => tempFiles(running.storage).length === 0, 10_000), 'temp file removed').to.equal(
        true,
      )
      expect(visible(running.storage), `round ${round}`).to.deep.equal([])
    }

    const after = image(1000)
    expect((await roundTrip(running.port, request('PUT', 'after.png', after, true))).STATUS).to.equal('OK')
    expect(readFileSync(join(running.storage, 'after.png')).equals(after)).to.equal(true)
  })

  it('a client (iss get) killed mid-GET: never visible under the final name, and the next get into that folder sweeps the part file', async () => {
    const out = tempDir('crash-get')
    cleanup.push(() => {
      removeDir(out)
    })
    const running = await startServer({maxSize: 16 * MiB})
    cleanup.push(async () => running.stop())
    const big = image(6 * MiB)
    const small = image(2000)
    expect((await roundTrip(running.port, request('PUT', 'big.png', big, true))).STATUS).to.equal('OK')
    expect((await roundTrip(running.port, request('PUT', 'small.png', small, true))).STATUS).to.equal('OK')
    const proxy = await throttlingProxy(running.port, 4 * MiB)
    cleanup.push(() => {
      proxy.close()
    })
    let lastPart = ''
    for (let round = 0; round < 3; round++) {
      const child = spawnCli(['get', 'big.png', '-o', out, '-p', String(proxy.port)], {cwd: out})
      const done = collect(child, 30_000).catch(() => undefined)
      const part = () => readdirSync(out).filter((n) => n.endsWith('.part'))
      expect(await eventually(() => part().some((n) => n !== lastPart), 15_000), 'download started').to.equal(true)
      await sleep(Math.floor(Math.random() * 400))
      child.kill('SIGKILL')
      await done
      // Left behind, dot-named, and nothing under the final name.
      expect(existsSync(join(out, 'big.png')), `round ${round}`).to.equal(false)
      expect(visible(out)).to.deep.equal([])
      // Exactly one part file: each new get swept the one the previous killed client left.
      const parts = part()
      expect(parts, `round ${round}`).to.have.length(1)
      expect(parts[0]).to.match(/^\.big\.png\.iss-\d+-[\da-f]+\.part$/)
      expect(parts[0], 'a new part file, not the old one').to.not.equal(lastPart)
      lastPart = parts[0]
    }

    // A later get into the same folder sweeps the part files of dead clients and publishes whole files only.
    const result = await collect(
      spawnCli(['get', 'small.png', '-o', out, '-p', String(running.port)], {cwd: out}),
      30_000,
    )
    expect(result.code, result.stderr).to.equal(0)
    expect(readdirSync(out)).to.deep.equal(['small.png'])
    expect(readFileSync(join(out, 'small.png')).equals(small)).to.equal(true)
  })
})
