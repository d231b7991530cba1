import {expect} from 'chai'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {jpegBytes, pngBytes, removeDir, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '')
}

describe('iss client commands', () => {
  describe('iss put / get / list against iss serve', function () {
    this.timeout(120_000)
    let work: string
    let storage: string
    let server: RunningServer
    let connection: string[]

    before(async () => {
      work = tempDir('e2e-client')
      storage = path.join(work, 'store')
      mkdirSync(storage)
      server = await startIssServer(storage)
      connection = ['-H', '127.0.0.1', '-p', String(server.port)]
    })

    after(async () => {
      await server?.stop()
      removeDir(work)
    })

    function file(name: string, data: Buffer | string): string {
      const full = path.join(work, name)
      writeFileSync(full, data)
      return full
    }

    function freshDir(name: string): string {
      const dir = path.join(work, name)
      mkdirSync(dir)
      return dir
    }

    it('iss --help lists the client commands, and each has examples', async () => {
      const help = await runCli(['--help'])
      expect(help.code).to.equal(0)
      for (const command of ['put', 'get', 'list']) expect(help.stdout).to.match(new RegExp(`^\\s+${command}\\s`, 'm'))
      // Each topic says what the topic is for, not what its first command does.
      expect(help.stdout).to.match(/^\s+token\s+Create, list and revoke a server's access tokens\.$/m)
      expect(help.stdout).to.match(/^\s+config\s+Keep connection settings/m)
      for (const command of ['put', 'get', 'list']) {
        const result = await runCli([command, '--help'])
        expect(result.code).to.equal(0)
        expect(result.stdout).to.contain('EXAMPLES')
        expect(result.stdout).to.contain('--host')
        expect(result.stdout).to.contain('--json')
      }
    })

    it('lists an empty store with the server message, in text and JSON', async () => {
      const text = await runCli(['list', ...connection])
      expect(text.code, text.stderr).to.equal(0)
      expect(lines(text.stdout)).to.have.length(1)
      const json = await runCli(['list', '--json', ...connection])
      expect(json.code).to.equal(0)
      const parsed = JSON.parse(json.stdout)
      expect(parsed.names).to.deep.equal([])
      expect(parsed.message).to.be.a('string').and.equal(lines(text.stdout)[0])
    })

    it('puts files (one line each), lists them sorted, and gets back exact bytes', async () => {
      const big = pngBytes(3 * 1024 * 1024 + 17)
      const small = jpegBytes(999)
      const put = await runCli(['put', file('Zebra.png', big), file('apple.JPG', small), ...connection])
      expect(put.stderr).to.equal('')
      expect(put.code).to.equal(0)
      expect(lines(put.stdout)).to.have.length(2)

      const list = await runCli(['list', ...connection])
      expect(list.code).to.equal(0)
      expect(list.stdout).to.equal('apple.JPG\nZebra.png\n')

      const into = freshDir('get-into')
      const get = await runCli(['get', 'zebra.png', 'APPLE.jpg', '-o', into, ...connection])
      expect(get.stderr).to.equal('')
      expect(get.code).to.equal(0)
      // Saved under the names as typed, never the server's FILENAME.
      expect(readdirSync(into).sort()).to.deep.equal(['APPLE.jpg', 'zebra.png'])
      expect(readFileSync(path.join(into, 'zebra.png')).equals(big)).to.equal(true)
      expect(readFileSync(path.join(into, 'APPLE.jpg')).equals(small)).to.equal(true)

      const cwd = freshDir('get-cwd')
      const here = await runCli(['get', 'Zebra.png', ...connection], {cwd})
      expect(here.code).to.equal(0)
      expect(readFileSync(path.join(cwd, 'Zebra.png')).equals(big)).to.equal(true)
    })

    it('put --json describes each file; a duplicate (any case) is the server ERROR, exit 1', async () => {
      const data = pngBytes(5000)
      const result = await runCli([
        'put',
        file('json1.png', data),
        file('ZEBRA.PNG', pngBytes(40)),
        '--json',
        ...connection,
      ])
      expect(result.code).to.equal(1)
      const parsed = JSON.parse(result.stdout)
      expect(parsed).to.deep.equal({
        results: [
          {
            file: path.join(work, 'json1.png'),
            name: 'json1.png',
            status: 'ok',
            source: null,
            bytes: 5000,
            code: null,
            message: null,
          },
          {
            file: path.join(work, 'ZEBRA.PNG'),
            name: 'ZEBRA.PNG',
            status: 'error',
            source: 'server',
            bytes: 40,
            code: 'E_DUPLICATE',
            message: parsed.results[1].message,
          },
        ],
      })
      expect(parsed.results[1].message).to.be.a('string').and.contain('Zebra.png')
    })

    it('put checks each file locally first, one line per failure, and still uploads the good ones (exit 2)', async () => {
      const dir = freshDir('a-folder.png')
      const plainDir = freshDir('no-images-here')
      const result = await runCli(
        [
          'put',
          path.join(work, 'missing.png'),
          file('notes.txt', 'hello'),
          file('empty.png', ''),
          dir,
          plainDir,
          file('fake.jpg', pngBytes(100)),
          file('good.png', pngBytes(100)),
          ...connection,
        ],
        {cwd: work},
      )
      expect(result.code).to.equal(2)
      const errors = lines(result.stderr)
      expect(errors).to.have.length(6)
      expect(errors[0]).to.contain('missing.png')
      expect(errors[1]).to.contain('notes.txt')
      expect(errors[2]).to.contain('empty.png')
      expect(errors[3]).to.contain('a-folder.png')
      // A folder is said to be one, whatever its name (not "not a .jpg, .jpeg or .png name").
      expect(errors[4]).to.contain('no-images-here').and.contain('a folder with no .jpg, .jpeg or .png file')
      expect(errors[5]).to.contain('fake.jpg')
      expect(lines(result.stdout)).to.have.length(1)
      expect(readdirSync(storage)).to.include('good.png')
      expect(readdirSync(storage)).to.not.include('fake.jpg')
    })

    it('get --json gives each name its result; a missing name is exit 1 and leaves no file', async () => {
      const into = freshDir('get-json')
      const result = await runCli(['get', 'good.png', 'nothere.png', '-o', into, '--json', ...connection])
      expect(result.code).to.equal(1)
      const parsed = JSON.parse(result.stdout)
      expect(parsed.results).to.have.length(2)
      expect(parsed.results[0]).to.deep.equal({
        name: 'good.png',
        path: path.join(into, 'good.png'),
        status: 'ok',
        source: null,
        bytes: 100,
        code: null,
        message: null,
      })
      expect(parsed.results[1]).to.include({
        name: 'nothere.png',
        status: 'error',
        source: 'server',
        code: 'E_NOT_FOUND',
      })
      expect(readdirSync(into)).to.deep.equal(['good.png'])
    })

    it('get never overwrites without --force, and replaces with it', async () => {
      const into = freshDir('get-force')
      const target = path.join(into, 'good.png')
      writeFileSync(target, 'mine')
      const refused = await runCli(['get', 'good.png', '-o', into, ...connection])
      expect(refused.code).to.equal(2)
      expect(lines(refused.stderr)).to.have.length(1)
      expect(refused.stderr).to.contain('--force')
      expect(readFileSync(target, 'utf8')).to.equal('mine')

      const forced = await runCli(['get', 'good.png', '-o', target, '--force', ...connection])
      expect(forced.code, forced.stderr).to.equal(0)
      expect(readFileSync(target).length).to.equal(100)
      expect(readdirSync(into)).to.deep.equal(['good.png'])
    })

    it('get refuses bad names locally and -o FILE with several names (exit 2)', async () => {
      const into = freshDir('get-bad')
      const bad = await runCli(['get', '../x.png', '-o', into, ...connection])
      expect(bad.code).to.equal(2)
      expect(lines(bad.stderr)).to.have.length(1)
      const several = await runCli(['get', 'a.png', 'b.png', '-o', path.join(into, 'one.png'), ...connection])
      expect(several.code).to.equal(2)
      expect(lines(several.stderr)).to.have.length(1)
      expect(readdirSync(into)).to.deep.equal([])
    })

    it('get --max-size below the image fails with one line (exit 3) and no file', async () => {
      const into = freshDir('get-max')
      const result = await runCli(['get', 'Zebra.png', '-o', into, '--max-size', '1000', ...connection])
      expect(result.code).to.equal(3)
      expect(lines(result.stderr)).to.have.length(1)
      expect(readdirSync(into)).to.deep.equal([])
    })

    it('reads ISS_HOST and ISS_PORT, and talks little-endian frames with --frame-endian little', async () => {
      const result = await runCli(['list', '--frame-endian', 'little'], {
        env: {ISS_HOST: '127.0.0.1', ISS_PORT: String(server.port)},
      })
      expect(result.code, result.stderr).to.equal(0)
      expect(lines(result.stdout)).to.include('Zebra.png')
    })
  })

  describe('iss client failures without a working server', function () {
    this.timeout(60_000)
    let scratch: string | undefined
    const tempDirFor = () => (scratch ??= tempDir('e2e-scratch'))

    after(() => {
      if (scratch) removeDir(scratch)
    })

    it('connection refused: one line naming host:port with a hint, exit 3, no stack trace', async () => {
      const port = await closedPort()
      for (const command of [['list'], ['get', 'a.png'], ['put', path.join(__dirname, 'none.png')]]) {
        const result = await runCli([...command, '-p', String(port)], {cwd: tempDirFor()})
        if (command[0] === 'put') {
          expect(result.code).to.equal(2)
          continue
        }
        expect(result.code, result.stderr).to.equal(3)
        expect(lines(result.stderr)).to.have.length(1)
        expect(result.stderr).to.contain(`127.0.0.1:${port}`)
        expect(result.stderr).to.contain('refused')
        expect(result.stderr).to.contain('iss serve')
        expect(result.stderr).to.not.match(/\bat .+:\d+:\d+/)
      }
    })

    it('--json failure shape', async () => {
      const port = await closedPort()
      const result = await runCli(['list', '-p', String(port), '--json'])
      expect(result.code).to.equal(3)
      const parsed = JSON.parse(result.stdout)
      expect(parsed).to.have.keys('error')
      expect(parsed.error).to.include({code: 'E_CONNECTION', exitCode: 3})
      expect(parsed.error.message).to.contain(`127.0.0.1:${port}`)
    })

    it('a server without the command: a clear line naming what it serves (exit 1)', async () => {
      const server = net.createServer((socket) => {
        socket.on('error', () => {})
        socket.once('data', () =>
          socket.write(
            encodeFrame({
              COMMAND: 'LIST',
              STATUS: 'ERROR',
              DETAILS: "Unknown command 'LIST'",
              FILENAME: null,
              FILE_DATA: null,
              extra: {CODE: 'E_UNKNOWN_COMMAND', COMMANDS: ['PUT', 'GET']},
            }),
          ),
        )
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const {port} = server.address() as net.AddressInfo
      try {
        const result = await runCli(['list', '-p', String(port)])
        expect(result.code).to.equal(1)
        expect(result.stderr.trim()).to.equal(
          `iss: the server at 127.0.0.1:${port} does not support LIST; it serves GET, PUT. ` +
            'Install the plugin that provides LIST where the server runs.',
        )
      } finally {
        server.close()
      }
    })

    it('usage errors exit 2', async () => {
      const result = await runCli(['get'])
      expect(result.code).to.equal(2)
      const port = await runCli(['list', '-p', 'abc'])
      expect(port.code).to.equal(2)
      const size = await runCli(['get', 'a.png', '--max-size', '12abc'])
      expect(size.code).to.equal(2)
      expect(size.stderr).to.contain('12abc')
    })
  })

  describe('iss put against iss serve with a small --max-size', function () {
    this.timeout(60_000)
    let work: string
    let server: RunningServer

    before(async () => {
      work = tempDir('e2e-limit')
      mkdirSync(path.join(work, 'store'))
      server = await startIssServer(path.join(work, 'store'), ['--max-size', '1MiB'])
    })

    after(async () => {
      await server?.stop()
      removeDir(work)
    })

    it('an image over the limit gets the server ERROR (exit 1); the next file still goes through', async () => {
      writeFileSync(path.join(work, 'big.png'), pngBytes(3 * 1024 * 1024))
      writeFileSync(path.join(work, 'small.png'), pngBytes(1000))
      const result = await runCli(['put', 'big.png', 'small.png', '--json', '-p', String(server.port)], {cwd: work})
      expect(result.code, result.stderr).to.equal(1)
      const {results} = JSON.parse(result.stdout) as {results: Array<{status: string; source: string; message: string}>}
      // Refused from the frame header alone, before the server has seen VERSION: a seed-style ERROR, no CODE.
      expect(results.map((r: {status: string}) => r.status)).to.deep.equal(['error', 'ok'])
      expect(results[0].source).to.equal('server')
      expect(results[0].message).to.contain('over the limit')
      expect(readdirSync(path.join(work, 'store'))).to.include('small.png')
    })
  })
})
