import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {
  collect,
  pngBytes,
  removeDir,
  runCli,
  type RunningServer,
  spawnCli,
  startIssServer,
  startSeedServer,
  tempDir,
} from './cli-harness.js'

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Calls `onFrame` with each whole request frame (4-byte big-endian length + pickle) a client sends. */
async function standIn(onFrame: (frame: Buffer, socket: net.Socket) => void): Promise<{port: number; close(): void}> {
  const server = net.createServer((socket) => {
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const length = 4 + buffered.readUInt32BE(0)
        onFrame(buffered.subarray(0, length), socket)
        buffered = buffered.subarray(length)
      }
    })
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      server.close()
    },
  }
}

/** A TCP proxy to `port` that counts the bytes the server sends back. */
async function countingProxy(port: number): Promise<{port: number; fromServer: number; close(): void}> {
  const proxy = {port: 0, fromServer: 0, close: () => undefined as void}
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    upstream.on('data', (chunk: Buffer) => {
      proxy.fromServer += chunk.length
    })
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.on('close', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxy.port = (server.address() as net.AddressInfo).port
  proxy.close = () => {
    server.close()
  }
  return proxy
}

const connectionTo = (port: number) => ['-H', '127.0.0.1', '-p', String(port), '--frame-endian', 'big']

describe('verified transfers, resumable downloads and long listings from the CLI', function () {
  this.timeout(180_000)
  let work: string

  beforeEach(() => {
    work = tempDir('verify')
  })

  afterEach(() => {
    removeDir(work)
  })

  for (const flip of [true, false]) {
    it(
      flip
        ? 'get refuses an answer with one byte changed: exit 3, one line, no file left'
        : 'get verifies a correct answer against its SHA256 and saves it',
      async () => {
        const data = pngBytes(300_000)
        const sent = Buffer.from(data)
        if (flip) sent[200_000] ^= 0x01
        const server = await standIn((_frame, socket) => {
          socket.write(
            encodeFrame({
              COMMAND: 'GET',
              STATUS: 'OK',
              DETAILS: null,
              FILENAME: 'cat.png',
              FILE_DATA: sent,
              extra: {SHA256: sha256(data)},
            }),
          )
        })
        try {
          const out = path.join(work, 'out')
          mkdirSync(out)
          const result = await runCli(['get', 'cat.png', '-o', out, ...connectionTo(server.port)])
          if (flip) {
            expect(result.code).to.equal(3)
            expect(result.stderr.trim().split('\n')).to.have.length(1)
            expect(result.stderr).to.contain('SHA-256').and.contain('nothing was saved')
            expect(readdirSync(out)).to.deep.equal([])
          } else {
            expect(result.stderr).to.equal('')
            expect(result.code).to.equal(0)
            expect(readFileSync(path.join(out, 'cat.png')).equals(data)).to.equal(true)
          }
        } finally {
          server.close()
        }
      },
    )
  }

  it('put sends the SHA-256 it computed while sending, after FILE_DATA', async () => {
    const data = pngBytes(500_000)
    const frames: Buffer[] = []
    const server = await standIn((frame, socket) => {
      frames.push(Buffer.from(frame))
      socket.write(encodeFrame({COMMAND: 'PUT', STATUS: 'OK', DETAILS: 'stored', FILENAME: 'up.png', FILE_DATA: null}))
    })
    try {
      writeFileSync(path.join(work, 'up.png'), data)
      const result = await runCli(['put', path.join(work, 'up.png'), ...connectionTo(server.port)])
      expect(result.code, result.stderr).to.equal(0)
      const frame = frames.at(-1)!
      const dataAt = frame.indexOf(data)
      const digestAt = frame.indexOf(Buffer.from(sha256(data)))
      expect(dataAt).to.be.greaterThan(0)
      expect(digestAt).to.be.greaterThan(dataAt + data.length - 1)
      expect(frame.indexOf(Buffer.from('SHA256'), dataAt)).to.be.greaterThan(dataAt)
    } finally {
      server.close()
    }
  })

  describe('against iss serve', () => {
    let server: RunningServer
    let storage: string

    beforeEach(async () => {
      storage = path.join(work, 'store')
      server = await startIssServer(storage, ['--max-size', '300MiB'])
    })

    afterEach(async () => {
      await server.stop()
    })

    it('put --skip-identical after an interrupted batch of 50 uploads only the missing ones', async () => {
      const files = Array.from({length: 50}, (_, index) => {
        const file = path.join(work, `batch-${String(index).padStart(2, '0')}.png`)
        writeFileSync(file, pngBytes(200_000))
        return file
      })
      // The first run is killed part-way through (bounded: at the 10th upload or after 60 s).
      const first = spawnCli(['put', ...files, ...connectionTo(server.port)])
      let uploaded = 0
      first.stdout!.setEncoding('utf8').on('data', (text: string) => {
        uploaded += text.split('\n').filter((line) => line.includes('uploaded as')).length
        if (uploaded >= 10) first.kill('SIGKILL')
      })
      const killed = await collect(first, 60_000)
      expect(killed.signal).to.equal('SIGKILL')
      const stored = readdirSync(storage).filter((name) => !name.startsWith('.'))
      expect(stored.length).to.be.within(10, 49)

      const again = await runCli(['put', ...files, '--skip-identical', '--json', ...connectionTo(server.port)], {
        timeoutMs: 120_000,
      })
      expect(again.code, again.stderr).to.equal(0)
      const results = (JSON.parse(again.stdout) as {results: Array<{name: string; status: string}>}).results
      const identical = results.filter((result) => result.status === 'identical').map((result) => result.name)
      expect(identical.toSorted()).to.deep.equal(stored.toSorted())
      expect(results.filter((result) => result.status === 'ok')).to.have.length(50 - stored.length)
      for (const file of files) {
        expect(readFileSync(path.join(storage, path.basename(file))).equals(readFileSync(file))).to.equal(true)
      }

      // Other bytes under a stored name are still a duplicate.
      const other = path.join(work, 'other')
      mkdirSync(other)
      writeFileSync(path.join(other, 'batch-00.png'), pngBytes(1000))
      const conflict = await runCli([
        'put',
        path.join(other, 'batch-00.png'),
        '--skip-identical',
        ...connectionTo(server.port),
      ])
      expect(conflict.code).to.equal(1)
      expect(conflict.stderr).to.contain('already exists')
    })

    it('get --continue resumes a 256 MiB download cut at about 60 %, sending only the rest', async () => {
      const size = 256 * 1024 * 1024
      const data = pngBytes(size)
      // Copied into the store folder, which a server reads at start: the digest is made on the first GET.
      await server.stop()
      writeFileSync(path.join(storage, 'big.png'), data)
      server = await startIssServer(storage, ['--max-size', '300MiB'])
      const proxy = await countingProxy(server.port)
      try {
        const out = path.join(work, 'out')
        mkdirSync(out)
        const part = path.join(out, '.big.png.iss-continue.part')
        const first = spawnCli(['get', 'big.png', '-o', out, '--continue', ...connectionTo(proxy.port)])
        const firstDone = collect(first, 150_000)
        const cut = await new Promise<number>((resolve) => {
          const started = Date.now()
          const timer = setInterval(() => {
            const bytes = existsSync(part) ? statSync(part).size : 0
            if (bytes >= size * 0.6 || Date.now() - started > 120_000) {
              clearInterval(timer)
              first.kill('SIGKILL')
              resolve(bytes)
            }
          }, 5)
        })
        await firstDone
        expect(cut).to.be.within(size * 0.6, size - 1)
        // What the killed run left (a batch may have landed between the look and the kill).
        const kept = statSync(part).size
        expect(existsSync(path.join(out, 'big.png'))).to.equal(false)

        proxy.fromServer = 0
        const second = await runCli(['get', 'big.png', '-o', out, '--continue', ...connectionTo(proxy.port)], {
          timeoutMs: 120_000,
        })
        expect(second.code, second.stderr).to.equal(0)
        expect(second.stdout).to.contain('resumed at')
        expect(sha256(readFileSync(path.join(out, 'big.png')))).to.equal(sha256(data))
        expect(readdirSync(out)).to.deep.equal(['big.png'])
        // Only the rest came the second time (about 40 %), plus a frame's header and keys.
        const share = proxy.fromServer / size
        console.log(
          `      (cut at ${((kept / size) * 100).toFixed(1)} %; second run received ${(share * 100).toFixed(1)} %)`,
        )
        expect(proxy.fromServer).to.be.within(size - kept, size - kept + 4096)
        expect(share).to.be.below(0.45)
      } finally {
        proxy.close()
      }
    })

    it('get --continue starts over from zero when the image on the server changed since the cut', async () => {
      const data = pngBytes(2_000_000)
      writeFileSync(path.join(work, 'swap.png'), data)
      const put = await runCli(['put', path.join(work, 'swap.png'), ...connectionTo(server.port)])
      expect(put.code, put.stderr).to.equal(0)
      const out = path.join(work, 'out')
      mkdirSync(out)
      // Left by a cut download of an earlier image of that name (another digest).
      const earlier = pngBytes(2_000_000)
      writeFileSync(path.join(out, '.swap.png.iss-continue.part'), earlier.subarray(0, 700_000))
      writeFileSync(
        path.join(out, '.swap.png.iss-continue.json'),
        JSON.stringify({
          server: `127.0.0.1:${server.port}`,
          name: 'swap.png',
          size: earlier.length,
          sha256: sha256(earlier),
        }),
      )
      const result = await runCli(['get', 'swap.png', '-o', out, '--continue', ...connectionTo(server.port)])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.contain('changed on the server').and.not.contain('resumed at')
      expect(readFileSync(path.join(out, 'swap.png')).equals(data)).to.equal(true)
      expect(readdirSync(out)).to.deep.equal(['swap.png'])
    })

    it('list --long shows size, time and a short digest, aligned; PATTERN filters; --json has every field', async () => {
      const files: Record<string, Buffer> = {
        'cat.png': pngBytes(1500),
        'Cow.png': pngBytes(2_500_000),
        'dog.png': pngBytes(100),
      }
      for (const [name, data] of Object.entries(files)) writeFileSync(path.join(work, name), data)
      const put = await runCli([
        'put',
        ...Object.keys(files).map((name) => path.join(work, name)),
        ...connectionTo(server.port),
      ])
      expect(put.code, put.stderr).to.equal(0)

      const long = await runCli(['list', '--long', ...connectionTo(server.port)])
      expect(long.code, long.stderr).to.equal(0)
      const lines = long.stdout.trimEnd().split('\n')
      expect(lines.map((line) => line.split(/\s+/).at(-1))).to.deep.equal(['cat.png', 'Cow.png', 'dog.png'])
      for (const line of lines) {
        expect(line).to.match(/^ *\d+(\.\d)? [KMG]?i?B {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}[\da-f]{12} {2}\S+$/)
        // Aligned: every name starts in the same column.
        expect(line.length - line.split(/\s+/).at(-1)!.length).to.equal(lines[0].length - 'cat.png'.length)
      }
      expect(lines[1]).to.contain('2.4 MiB').and.contain(sha256(files['Cow.png']).slice(0, 12))

      const filtered = await runCli(['list', 'C*', ...connectionTo(server.port)])
      expect(filtered.stdout).to.equal('cat.png\nCow.png\n')

      const json = await runCli(['list', 'c?t.PNG', '--long', '--json', ...connectionTo(server.port)])
      const parsed = JSON.parse(json.stdout) as {names: string[]; entries: Array<Record<string, unknown>>}
      expect(parsed.names).to.deep.equal(['cat.png'])
      expect(parsed.entries).to.have.length(1)
      expect(parsed.entries[0]).to.include({name: 'cat.png', size: 1500, sha256: sha256(files['cat.png'])})
      expect(Date.parse(parsed.entries[0].modified as string)).to.be.within(Date.now() - 600_000, Date.now() + 60_000)
    })
  })

  it('get --continue against the Python seed server (no OFFSET) starts over: the file is intact', async () => {
    const storage = path.join(work, 'seed-store')
    mkdirSync(storage)
    const data = pngBytes(3_000_000)
    writeFileSync(path.join(storage, 'seed.png'), data)
    const seed = await startSeedServer(storage, 'big')
    try {
      const out = path.join(work, 'out')
      mkdirSync(out)
      // A part left by an earlier cut run, with bytes an append would keep (so a wrong append shows).
      writeFileSync(path.join(out, '.seed.png.iss-continue.part'), Buffer.alloc(1_200_000, 0xee))
      writeFileSync(
        path.join(out, '.seed.png.iss-continue.json'),
        JSON.stringify({server: `127.0.0.1:${seed.port}`, name: 'seed.png', size: data.length, sha256: null}),
      )
      const result = await runCli(['get', 'seed.png', '-o', out, '--continue', ...connectionTo(seed.port)])
      expect(result.code, result.stderr).to.equal(0)
      expect(readFileSync(path.join(out, 'seed.png')).equals(data)).to.equal(true)
      expect(readdirSync(out)).to.deep.equal(['seed.png'])
    } finally {
      await seed.stop()
    }
  })
})
