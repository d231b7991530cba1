/* eslint-disable mocha/no-top-level-hooks -- describeWithRgw() is describe() where Ceph RGW can run */
// The seed's own client (plain CPython, protocols 0 to 5) against a server whose store is a bucket.
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describeWithRgw, type Rgw, rgw, RGW_START_TIMEOUT_MS, s3Url} from '../support/rgw.js'
import {runSeedClient, type SeedLine} from '../support/seed-client.js'
import {jpeg, png, type RunningServer, startServer} from './server-harness.js'

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

describeWithRgw('interop: the Python seed client against an s3-backed iss serve (Ceph RGW)', function () {
  this.timeout(180_000)
  let where: Rgw
  let running: RunningServer
  let files: string
  const photo = png(70_000, 3)
  const picture = jpeg(50_000, 4)
  const protocols = [0, 1, 2, 3, 4, 5]
  let results: SeedLine[][] = []

  before(async function () {
    this.timeout(RGW_START_TIMEOUT_MS)
    where = await rgw()
    files = mkdtempSync(join(tmpdir(), 'iss-s3-interop-'))
    writeFileSync(join(files, 'photo.png'), photo)
    writeFileSync(join(files, 'picture.jpg'), picture)
    running = await startServer({storage: s3Url(where), storageOptions: {}, maxSize: 4 * 1024 * 1024})
    const script = {
      sessions: protocols.map((protocol, i) => ({
        protocol,
        endian: 'native',
        per_request: true,
        ops: [
          {op: 'PUT', name: `p${i}-photo.png`, path: join(files, 'photo.png')},
          {op: 'PUT', name: `P${i}-Picture.JPG`, path: join(files, 'picture.jpg')},
          {op: 'PUT', name: `P${i}-PHOTO.png`, path: join(files, 'photo.png')},
          {op: 'GET', name: `p${i}-picture.jpg`},
          {op: 'GET', name: `p${i}-missing.png`},
          {op: 'LIST'},
        ],
      })),
    }
    const lines = await runSeedClient(running.port, script)
    results = protocols.map((_, i) => lines.filter((line) => (line as {session?: number}).session === i))
  })

  after(async () => {
    await running?.stop()
    if (files) rmSync(files, {recursive: true, force: true})
  })

  for (const [i, protocol] of protocols.entries()) {
    it(`PUT, duplicate PUT, GET, missing GET and LIST at pickle protocol ${protocol}`, () => {
      const [put1, put2, duplicate, get, missing, list] = results[i]
      expect(put1.STATUS).to.equal('OK')
      expect(put2.STATUS).to.equal('OK')
      expect(duplicate.STATUS).to.equal('ERROR')
      expect(duplicate.DETAILS).to.equal(`File 'p${i}-photo.png' already exists on server`)
      expect(get.STATUS).to.equal('OK')
      expect(get.FILENAME).to.equal(`P${i}-Picture.JPG`)
      expect(get.types!.FILE_DATA).to.equal('bytes')
      expect(get.sha256).to.equal(sha256(picture))
      expect(missing.STATUS).to.equal('ERROR')
      expect(missing.DETAILS).to.equal(`File 'p${i}-missing.png' does not exist on server`)
      expect(list.STATUS).to.equal('OK')
      expect(list.DETAILS).to.include.members([`p${i}-photo.png`, `P${i}-Picture.JPG`])
    })
  }
})
