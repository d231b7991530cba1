import {expect} from 'chai'
import {readdirSync, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {Download, STALE_PART_MS, sweepStaleParts, TargetExistsError} from '../../src/core/download-target.js'
import {removeDir, tempDir} from '../e2e/cli-harness.js'

describe('Download (temporary file beside the target)', () => {
  let dir: string

  beforeEach(() => {
    dir = tempDir('download')
  })

  afterEach(() => removeDir(dir))

  it('writes into a dot-named part file and publishes it under the target name', async () => {
    const target = path.join(dir, 'cat.png')
    const download = await Download.start(target)
    await download.sink.write(Buffer.from('abc'))
    await download.sink.write(Buffer.from('def'))
    const [part] = readdirSync(dir)
    expect(part).to.match(/^\.cat\.png\.iss-\d+-[\da-f]+\.part$/)
    expect(readdirSync(dir)).to.not.include('cat.png')
    await download.publish(false)
    expect(readdirSync(dir)).to.deep.equal(['cat.png'])
    expect(readFileSync(target, 'utf8')).to.equal('abcdef')
    expect(download.bytes).to.equal(6)
  })

  it('never replaces a file that appeared meanwhile without force, and removes its part file', async () => {
    const target = path.join(dir, 'cat.png')
    const download = await Download.start(target)
    await download.sink.write(Buffer.from('new'))
    writeFileSync(target, 'old')
    let caught: unknown
    await download.publish(false).catch((error: unknown) => (caught = error))
    expect(caught).to.be.instanceOf(TargetExistsError)
    expect(readFileSync(target, 'utf8')).to.equal('old')
    expect(readdirSync(dir)).to.deep.equal(['cat.png'])
  })

  it('replaces an existing file with force', async () => {
    const target = path.join(dir, 'cat.png')
    writeFileSync(target, 'old')
    const download = await Download.start(target)
    await download.sink.write(Buffer.from('new'))
    await download.publish(true)
    expect(readFileSync(target, 'utf8')).to.equal('new')
    expect(readdirSync(dir)).to.deep.equal(['cat.png'])
  })

  it('discard removes the part file', async () => {
    const download = await Download.start(path.join(dir, 'cat.png'))
    await download.sink.write(Buffer.from('x'))
    await download.discard()
    expect(readdirSync(dir)).to.deep.equal([])
  })

  it('sweeps part files of dead writers and old ones, and nothing else', async () => {
    const dead = '.a.png.iss-999999999-abcdef.part'
    const old = `.b.png.iss-${process.pid}-abcdef.part`
    const fresh = `.c.png.iss-${process.pid}-abcdef.part`
    for (const name of [dead, old, fresh, 'keep.png', '.hidden.part']) writeFileSync(path.join(dir, name), 'x')
    const longAgo = (Date.now() - STALE_PART_MS - 60_000) / 1000
    utimesSync(path.join(dir, old), longAgo, longAgo)
    const removed = await sweepStaleParts(dir)
    expect(removed.sort()).to.deep.equal([dead, old].sort())
    expect(readdirSync(dir).sort()).to.deep.equal(['.hidden.part', fresh, 'keep.png'].sort())
  })
})
