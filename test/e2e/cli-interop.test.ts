import {expect} from 'chai'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {pngBytes, jpegBytes, removeDir, runCli, type RunningServer, startSeedServer, tempDir} from './cli-harness.js'

// Our CLI against a Python server written from the seed: real CPython pickle both ways.
// With no --frame-endian (auto), the first request's length reads the same in both orders, so a seed
// server of either byte order understands it without the user knowing which one it is.
for (const [endian, flag] of [
  ['big', 'big'],
  ['native', 'little'],
  ['native', null],
  ['big', null],
] as const) {
  const shown = flag === null ? 'no --frame-endian' : `--frame-endian ${flag}`
  describe(`iss put/get/list against the seed server (${endian} headers, ${shown})`, function () {
    this.timeout(60_000)
    let work: string
    let server: RunningServer
    let storage: string

    before(async () => {
      work = tempDir('interop')
      storage = path.join(work, 'store')
      server = await startSeedServer(storage, endian)
    })

    after(async () => {
      await server?.stop()
      removeDir(work)
    })

    const connection = () => [
      '-H',
      '127.0.0.1',
      '-p',
      String(server.port),
      ...(flag === null ? [] : ['--frame-endian', flag]),
    ]

    it('lists an empty store with the server message', async () => {
      const result = await runCli(['list', ...connection()])
      expect(result.stderr).to.equal('')
      expect(result.code).to.equal(0)
      expect(result.stdout).to.equal('No files on server\n')
    })

    it('puts, lists and gets back the exact bytes', async () => {
      const png = pngBytes(300_000)
      const jpeg = jpegBytes(1234)
      writeFileSync(path.join(work, 'Cat.png'), png)
      writeFileSync(path.join(work, 'dog.JPEG'), jpeg)

      const put = await runCli(['put', path.join(work, 'Cat.png'), path.join(work, 'dog.JPEG'), ...connection()])
      expect(put.stderr).to.equal('')
      expect(put.code).to.equal(0)
      expect(put.stdout.trim().split('\n')).to.have.length(2)
      expect(readFileSync(path.join(storage, 'Cat.png')).equals(png)).to.equal(true)
      expect(readFileSync(path.join(storage, 'dog.JPEG')).equals(jpeg)).to.equal(true)

      const list = await runCli(['list', '--json', ...connection()])
      expect(list.code).to.equal(0)
      expect(JSON.parse(list.stdout)).to.deep.equal({names: ['Cat.png', 'dog.JPEG'], message: null})

      const out = path.join(work, 'out')
      const downloads = path.join(work, 'downloads')
      mkdirSync(downloads)
      const get = await runCli(['get', 'Cat.png', 'dog.JPEG', '-o', downloads, ...connection()])
      expect(get.stderr).to.equal('')
      expect(get.code).to.equal(0)
      expect(readdirSync(downloads).sort()).to.deep.equal(['Cat.png', 'dog.JPEG'])
      expect(readFileSync(path.join(downloads, 'Cat.png')).equals(png)).to.equal(true)
      expect(readFileSync(path.join(downloads, 'dog.JPEG')).equals(jpeg)).to.equal(true)
      const got = await runCli(['get', 'Cat.png', '-o', out + '.png', ...connection()])
      expect(got.code).to.equal(0)
      expect(readFileSync(out + '.png').equals(png)).to.equal(true)
    })

    it('reports the seed server ERROR for a duplicate and a missing file, exit 1', async () => {
      const put = await runCli(['put', path.join(work, 'Cat.png'), ...connection()])
      expect(put.code).to.equal(1)
      expect(put.stderr).to.contain("File 'Cat.png' already exists on server")

      const get = await runCli(['get', 'nothere.png', ...connection()], {cwd: work})
      expect(get.code).to.equal(1)
      expect(get.stderr).to.contain("File 'nothere.png' does not exist on server")
      expect(readdirSync(work)).to.not.include('nothere.png')
      expect(readdirSync(work).filter((name) => name.endsWith('.part'))).to.deep.equal([])
    })
  })
}
