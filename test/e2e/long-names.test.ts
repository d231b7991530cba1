// The longest names iss accepts travel end to end: `iss put` then `iss get` of a 253-byte name (83 CJK
// characters + .jpg) leaves the image under that name and no part file, where a part file built from
// the whole name (over 255 bytes) failed with ENAMETOOLONG.
import {expect} from 'chai'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {jpegBytes, pngBytes, removeDir, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

describe('long names end to end (iss put, iss get)', function () {
  this.timeout(120_000)
  let work: string
  let server: RunningServer
  let connection: string[]

  before(async () => {
    work = tempDir('e2e-long-names')
    mkdirSync(path.join(work, 'store'))
    server = await startIssServer(path.join(work, 'store'))
    connection = ['-H', '127.0.0.1', '-p', String(server.port)]
  })

  after(async () => {
    await server?.stop()
    removeDir(work)
  })

  const cases: Array<[string, string, Buffer]> = [
    ['83 CJK characters + .jpg (253 bytes)', '\u{65E5}'.repeat(83) + '.jpg', jpegBytes(3000)],
    ['62 emoji + .png (252 bytes)', '\u{1F431}'.repeat(62) + '.png', pngBytes(3000)],
  ]
  for (const [what, name, data] of cases) {
    it(`puts and gets ${what}`, async () => {
      expect(Buffer.byteLength(name)).to.be.within(250, 255)
      const source = path.join(work, 'source')
      mkdirSync(source, {recursive: true})
      writeFileSync(path.join(source, name), data)
      const put = await runCli(['put', path.join(source, name), ...connection])
      expect(put.code, put.stderr).to.equal(0)

      const into = path.join(work, `into-${data.length}-${name.length}`)
      mkdirSync(into)
      const get = await runCli(['get', name, '-o', into, ...connection])
      expect(get.code, get.stderr).to.equal(0)
      expect(get.stderr).not.to.match(/ENAMETOOLONG/)
      expect(readdirSync(into)).to.deep.equal([name])
      expect(readFileSync(path.join(into, name)).equals(data)).to.equal(true)
    })
  }
})
