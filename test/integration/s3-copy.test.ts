/* eslint-disable mocha/no-top-level-hooks -- describeWithRgw() is describe() where Ceph RGW can run */
// `iss store copy` as a user runs it: a folder store to a bucket on Ceph RGW and back.
import {expect} from 'chai'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runCli} from '../e2e/cli-harness.js'
import {describeWithRgw, type Rgw, rgw, RGW_START_TIMEOUT_MS, s3Url} from '../support/rgw.js'
import {jpeg, png} from './server-harness.js'

interface CopyReport {
  items: Array<{name: string; status: string}>
  summary: {copied: number; identical: number; conflict: number; error: number}
}

describeWithRgw('iss store copy: a folder to Ceph RGW and back', function () {
  this.timeout(120_000)
  let where: Rgw
  let dir: string

  before(async function () {
    this.timeout(RGW_START_TIMEOUT_MS)
    where = await rgw()
    dir = mkdtempSync(join(tmpdir(), 'iss-s3-copy-'))
  })

  after(() => {
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function copy(source: string, target: string): Promise<CopyReport> {
    const result = await runCli(['store', 'copy', source, target, '--json'], {timeoutMs: 100_000})
    expect(result.code, result.stderr).to.equal(0)
    return JSON.parse(result.stdout) as CopyReport
  }

  it('copies every image with its name, verified; a second run copies nothing; the way back gives the same folder', async () => {
    const source = join(dir, 'source')
    mkdirSync(source)
    const images: Record<string, Buffer> = {
      'Cat.png': png(120_000, 1),
      'dog.JPG': jpeg(80_000, 2),
      'Ὀδός.png': png(3000, 3),
      'big.png': png(6 * 1024 * 1024, 4), // over one 5 MiB part: a multipart upload
    }
    for (const [name, data] of Object.entries(images)) writeFileSync(join(source, name), data)
    const bucket = s3Url(where)

    const first = await copy(source, bucket)
    expect(first.summary).to.include({copied: 4, identical: 0, conflict: 0, error: 0})
    const second = await copy(source, bucket)
    expect(second.summary).to.include({copied: 0, identical: 4, conflict: 0, error: 0})

    const back = join(dir, 'back')
    const returned = await copy(bucket, back)
    expect(returned.summary).to.include({copied: 4})
    const names = readdirSync(back).filter((name) => !name.startsWith('.'))
    expect(names.toSorted()).to.deep.equal(Object.keys(images).toSorted())
    for (const [name, data] of Object.entries(images))
      expect(readFileSync(join(back, name)).equals(data)).to.equal(true)
    expect((await copy(bucket, back)).summary).to.include({copied: 0, identical: 4})
  })

  it('reports a name the target holds with other bytes as a conflict, exit 1, and copies the rest', async () => {
    const source = join(dir, 'conflict-source')
    mkdirSync(source)
    writeFileSync(join(source, 'same.png'), png(5000, 5))
    writeFileSync(join(source, 'fresh.png'), png(6000, 6))
    const bucket = s3Url(where)
    const seeded = join(dir, 'seeded')
    mkdirSync(seeded)
    writeFileSync(join(seeded, 'SAME.png'), png(5000, 7))
    await copy(seeded, bucket)
    const result = await runCli(['store', 'copy', source, bucket], {timeoutMs: 100_000})
    expect(result.code).to.equal(1)
    expect(result.stderr).to.include("conflict: same.png: the target holds other bytes under 'SAME.png'")
    expect(result.stdout).to.include('1 copied')
  })
})
