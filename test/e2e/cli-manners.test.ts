import {expect} from 'chai'
import {appendFileSync, existsSync, mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {
  collect,
  pngBytes,
  removeDir,
  runCli,
  type RunningServer,
  spawnCli,
  startIssServer,
  tempDir,
} from './cli-harness.js'

/** Characters that must never reach a terminal raw: C0 but newline, DEL, C1 (CSI U+009B), bidi overrides. */
// eslint-disable-next-line no-control-regex -- the point of the check
const RAW_CONTROLS = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/u

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0)
}

/**
 * A fake server on 127.0.0.1 that reads big-endian frames and hands each whole one (by its index on the
 * connection) to `answer`; `onFrameStart` sees the first bytes of each frame before it is complete.
 */
async function scriptedServer(script: {
  answer?: (socket: net.Socket, index: number) => void
  onFrameStart?: (socket: net.Socket, index: number) => void
}): Promise<{port: number; close(): Promise<void>}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    let buffered = Buffer.alloc(0)
    let index = 0
    let started = -1
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 4 && !socket.destroyed) {
        if (started < index) {
          started = index
          script.onFrameStart?.(socket, index)
          if (socket.destroyed) return
        }
        const length = buffered.readUInt32BE(0)
        if (buffered.length < 4 + length) return
        buffered = buffered.subarray(4 + length)
        script.answer?.(socket, index++)
      }
    })
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

const ok = (command: string, data: Buffer | null = null, filename: string | null = null) =>
  encodeFrame({COMMAND: command, STATUS: 'OK', DETAILS: null, FILENAME: filename, FILE_DATA: data})

interface ItemJson {
  status: string
  source: string | null
  code: string | null
  message: string | null
}

describe('iss clients tell the truth (issue 11 items 7-12, issue 18 item 8)', function () {
  this.timeout(120_000)
  let work: string
  let server: RunningServer
  let small: RunningServer
  const at = (s: RunningServer) => ['-p', String(s.port)]

  before(async () => {
    work = tempDir('manners')
    mkdirSync(path.join(work, 'store'))
    mkdirSync(path.join(work, 'small-store'))
    server = await startIssServer(path.join(work, 'store'))
    small = await startIssServer(path.join(work, 'small-store'), ['--max-size', '1MiB'])
  })

  after(async () => {
    await server?.stop()
    await small?.stop()
    removeDir(work)
  })

  function file(name: string, data: Buffer): string {
    const target = path.join(work, name)
    writeFileSync(target, data)
    return target
  }

  describe('item 7: sizes a person reads, what to do, and the right exit code', () => {
    it("a PUT over the server's limit says 1.5 MiB and 1 MiB and names iss serve --max-size (exit 1)", async () => {
      const result = await runCli(['put', file('big.png', pngBytes(1.5 * 1024 * 1024)), ...at(small)])
      expect(result.code, result.stderr).to.equal(1)
      expect(lines(result.stderr)).to.have.length(1)
      expect(result.stderr).to.contain('1.5 MiB, over the limit of 1 MiB at the server')
      expect(result.stderr).to.contain('iss serve --max-size')
      expect(result.stderr).to.not.match(/\d{6,} bytes/)
    })

    it("a GET over the client's --max-size is a local refusal (exit 2) in KiB with the flag to raise; the next name goes on", async () => {
      expect((await runCli(['put', file('wide.png', pngBytes(600 * 1024)), ...at(server)])).code).to.equal(0)
      expect((await runCli(['put', file('tiny.png', pngBytes(2000)), ...at(server)])).code).to.equal(0)
      const into = path.join(work, 'max-size-out')
      mkdirSync(into)
      const result = await runCli(['get', 'wide.png', 'tiny.png', '-o', into, '--max-size', '500KiB', ...at(server)])
      expect(result.code, result.stderr).to.equal(2)
      expect(lines(result.stderr)).to.deep.equal([
        `wide.png: 127.0.0.1:${server.port} sent an answer of 600 KiB, over the limit of 500 KiB this client accepts ` +
          '(if you trust the server, run again with --max-size 1MiB)',
      ])
      expect(readdirSync(into)).to.deep.equal(['tiny.png'])
    })

    it('names --frame-endian little when a server took a forced big-endian request and answered nothing, and not when refused', async () => {
      const silent = await scriptedServer({})
      try {
        const result = await runCli(['list', '--timeout', '2', '--frame-endian', 'big', '-p', String(silent.port)])
        expect(result.code).to.equal(3)
        expect(lines(result.stderr)).to.have.length(1)
        expect(result.stderr).to.contain('--frame-endian little')
        // By default the first frame reads the same in both orders, so byte order cannot be why it is silent.
        const auto = await runCli(['list', '--timeout', '2', '-p', String(silent.port)])
        expect(auto.code).to.equal(3)
        expect(lines(auto.stderr)).to.have.length(1)
        expect(auto.stderr).to.not.contain('frame-endian')
        expect(auto.stderr).to.contain('--timeout')
      } finally {
        await silent.close()
      }
      const closed = await scriptedServer({})
      const {port} = closed
      await closed.close()
      const refused = await runCli(['list', '-p', String(port)])
      expect(refused.code).to.equal(3)
      expect(refused.stderr).to.not.contain('frame-endian')
    })
  })

  describe('item 8: one suggestion line for a near miss, without a terminal', () => {
    it('suggests list for lsit, get for gte (without echoing its arguments), --host for --hots; exit 2', async () => {
      const lsit = await runCli(['lsit'])
      expect(lsit.code).to.equal(2)
      expect(lines(lsit.stderr)).to.deep.equal(["iss: 'lsit' is not an iss command; did you mean 'iss list'?"])
      const gte = await runCli(['gte', 'cat.jpg'])
      expect(gte.code).to.equal(2)
      expect(lines(gte.stderr)).to.deep.equal(["iss: 'gte' is not an iss command; did you mean 'iss get'?"])
      const hots = await runCli(['list', '--hots', 'example.net'])
      expect(hots.code).to.equal(2)
      expect(lines(hots.stderr)).to.deep.equal([
        'iss: unknown flag --hots; did you mean --host? (iss list --help lists them)',
      ])
      expect(hots.stdout).to.equal('')
      const serve = await runCli(['serve', '--storage', path.join(work, 'never'), '--max-szie', '1MiB'])
      expect(serve.code).to.equal(2)
      expect(lines(serve.stderr)).to.deep.equal([
        'iss: unknown flag --max-szie; did you mean --max-size? (iss serve --help lists them)',
      ])
    })
  })

  describe('item 9: NAME: reason, -o folders, help without a repeated summary', () => {
    it('a missing -o folder is refused the same way for one name and for several (exit 2, nothing created)', async () => {
      const missing = path.join(work, 'newdir')
      const several = await runCli(['get', 'a.png', 'b.png', '-o', missing, ...at(server)])
      expect(several.code).to.equal(2)
      expect(lines(several.stderr)).to.deep.equal([
        `iss: ${missing}: no such folder (with several names, -o names an existing folder)`,
      ])
      const one = await runCli(['get', 'a.png', '-o', `${missing}/`, ...at(server)])
      expect(one.code).to.equal(2)
      expect(lines(one.stderr)).to.deep.equal([`iss: ${missing}/: no such folder`])
      expect(existsSync(missing)).to.equal(false)
    })

    it('local checks print NAME: reason', async () => {
      const result = await runCli(['put', 'nope.png', file('empty.png', Buffer.alloc(0)), ...at(server)], {cwd: work})
      expect(result.code).to.equal(2)
      expect(lines(result.stderr)).to.deep.equal([
        'nope.png: no such file',
        `${path.join(work, 'empty.png')}: empty file`,
      ])
    })

    for (const [command, summary] of [
      ['put', 'Upload JPEG and PNG images to an iss server.'],
      ['get', 'Download images from an iss server, never leaving a partial file.'],
      ['serve', 'Run the image server.'],
      ['list', 'List the images stored on an iss server'],
    ]) {
      it(`iss ${command} --help prints its summary once`, async () => {
        const help = await runCli([command, '--help'])
        expect(help.code).to.equal(0)
        expect(help.stdout.split(summary).length - 1).to.equal(1)
      })
    }
  })

  describe('item 10: iss put FILE --name NAME', () => {
    it('a name the server would refuse (colons) is refused with a hint, and goes under --name', async () => {
      const shot = file('Screenshot 2024-05-01 10:00:00.png', pngBytes(3000))
      const refused = await runCli(['put', shot, ...at(server)])
      expect(refused.code).to.equal(2)
      expect(lines(refused.stderr)).to.have.length(1)
      expect(refused.stderr).to.contain('--name')
      const renamed = await runCli(['put', shot, '--name', 'screenshot-1.png', ...at(server)])
      expect(renamed.code, renamed.stderr).to.equal(0)
      expect(renamed.stdout).to.contain('uploaded as screenshot-1.png')
      const list = await runCli(['list', ...at(server)])
      expect(lines(list.stdout)).to.include('screenshot-1.png')
      const two = await runCli(['put', shot, shot, '--name', 'x.png', ...at(server)])
      expect(two.code).to.equal(2)
      expect(lines(two.stderr)).to.have.length(1)
    })
  })

  describe('item 11: --json partial results are truthful', () => {
    it('get: the item cut off is an error with its cause, the one never attempted is skipped', async () => {
      const data = pngBytes(3000)
      const fake = await scriptedServer({
        answer(socket, index) {
          if (index === 0) {
            socket.write(ok('GET', data, 'a.png'))
            return
          }
          const {head} = encodeStreamingFrame({COMMAND: 'GET', STATUS: 'OK', DETAILS: null, FILENAME: 'b.png'}, 100_000)
          socket.write(Buffer.concat([head, data.subarray(0, 1000)]), () => socket.destroy())
        },
      })
      try {
        const into = path.join(work, 'partial-get')
        mkdirSync(into)
        const result = await runCli(['get', 'a.png', 'b.png', 'c.png', '-o', into, '--json', '-p', String(fake.port)])
        expect(result.code).to.equal(3)
        const body = JSON.parse(result.stdout) as {error: {code: string}; partial: {results: ItemJson[]}}
        expect(body.error.code).to.equal('E_CONNECTION')
        const items = body.partial.results
        expect(items.map((item) => item.status)).to.deep.equal(['ok', 'error', 'skipped'])
        expect(items[1].source).to.equal('connection')
        expect(items[1].code).to.equal('E_CONNECTION')
        expect(items[1].message).to.be.a('string').and.not.equal('')
        expect(items[2]).to.include({source: null, code: null, message: null})
        expect(readdirSync(into)).to.deep.equal(['a.png'])
      } finally {
        await fake.close()
      }
    })

    it('put: the upload cut off is an error with its cause, the one never attempted is skipped', async () => {
      const fake = await scriptedServer({
        answer(socket, index) {
          if (index === 0) socket.write(ok('PUT', null, 'a.png'))
        },
        onFrameStart(socket, index) {
          if (index === 1) socket.destroy()
        },
      })
      try {
        const files = ['a.png', 'b.png', 'c.png'].map((name) => file(name, pngBytes(200_000)))
        const result = await runCli(['put', ...files, '--json', '-p', String(fake.port)])
        expect(result.code).to.equal(3)
        const body = JSON.parse(result.stdout) as {partial: {results: ItemJson[]}}
        expect(body.partial.results.map((item) => [item.status, item.source])).to.deep.equal([
          ['ok', null],
          ['error', 'connection'],
          ['skipped', null],
        ])
      } finally {
        await fake.close()
      }
    })
  })

  describe('item 12: a file that grows while it streams is not stored', () => {
    it('SIGSTOP the client mid-upload, append, SIGCONT: exit 2, a line saying why, nothing stored', async () => {
      const growing = file('growing.png', pngBytes(32 * 1024 * 1024))
      // A proxy that holds the client's bytes until the file has grown, then forwards everything.
      let child: ReturnType<typeof spawnCli> | undefined
      const proxy = net.createServer((client) => {
        const upstream = net.connect(server.port, '127.0.0.1')
        client.on('error', () => {})
        upstream.on('error', () => {})
        client.once('data', (first: Buffer) => {
          client.pause()
          child!.kill('SIGSTOP')
          appendFileSync(growing, Buffer.alloc(4096, 1))
          child!.kill('SIGCONT')
          upstream.write(first)
          client.pipe(upstream)
          upstream.pipe(client)
          client.resume()
        })
      })
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
      try {
        const {port} = proxy.address() as net.AddressInfo
        child = spawnCli(['put', growing, '-p', String(port)])
        const result = await collect(child, 60_000)
        expect(result.code, result.stderr).to.equal(2)
        expect(lines(result.stderr)).to.have.length(1)
        expect(result.stderr).to.contain('growing.png: it changed size')
        expect(result.stderr).to.contain('nothing was stored')
        const list = await runCli(['list', ...at(server)])
        expect(lines(list.stdout)).to.not.include('growing.png')
      } finally {
        proxy.close()
      }
    })
  })

  describe('issue 18 item 8: text a server chose is escaped', () => {
    const hostile = 'no\u001B]0;owned\u0007 such\u009B2J file\u202Egnp.exe\nforged line'

    it('ERROR DETAILS reach stderr escaped and --json escapes C1 and bidi controls too', async () => {
      const fake = await scriptedServer({
        answer(socket) {
          socket.write(
            encodeFrame({COMMAND: 'GET', STATUS: 'ERROR', DETAILS: hostile, FILENAME: 'cat.png', FILE_DATA: null}),
          )
        },
      })
      try {
        const into = path.join(work, 'hostile-out')
        mkdirSync(into)
        const text = await runCli(['get', 'cat.png', '-o', into, '-p', String(fake.port)])
        expect(text.code).to.equal(1)
        expect(lines(text.stderr)).to.have.length(1)
        expect(text.stderr).to.not.match(RAW_CONTROLS)
        expect(text.stderr).to.contain('\\u009b').and.contain('\\u202e')
        const json = await runCli(['get', 'cat.png', '-o', into, '--json', '-p', String(fake.port)])
        expect(json.stdout).to.not.match(RAW_CONTROLS)
        expect(json.stdout).to.not.contain('\u009B').and.not.contain('\u202E')
        const body = JSON.parse(json.stdout) as {results: ItemJson[]}
        expect(body.results[0].message).to.equal(hostile)
      } finally {
        await fake.close()
      }
    })
  })
})
