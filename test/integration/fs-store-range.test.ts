import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Readable} from 'node:stream'

import {FsStore} from '../../src/core/store/fs-store.js'
import {fill, randomPng} from '../support/upload-data.js'

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

describe('fs store: reading part of an image (a resumed GET)', () => {
  let root: string
  let store: FsStore
  const data = randomPng(3 * 1024 * 1024 + 17)

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'iss-range-'))
    store = new FsStore({root, fsync: false})
    await store.open()
    const upload = await store.beginUpload('whole.png', data.length)
    expect(await fill(upload, data)).to.equal(null)
    await upload.commit('whole.png')
  })

  after(async () => {
    await store.close()
    rmSync(root, {recursive: true, force: true})
  })

  it('starts at the offset and runs to the end, while the size stays the whole size', async () => {
    const opened = await store.openRead('whole.png', {offset: 1_000_001})
    expect(opened.offset).to.equal(1_000_001)
    expect(opened.image.size).to.equal(data.length)
    expect(await readAll(opened.stream)).to.deep.equal(data.subarray(1_000_001))
  })

  it('stops after the length when one is given', async () => {
    const opened = await store.openRead('whole.png', {offset: 5, length: 10})
    expect(await readAll(opened.stream)).to.deep.equal(data.subarray(5, 15))
  })

  it('gives an empty stream for an offset at or past the end', async () => {
    const atEnd = await store.openRead('WHOLE.PNG', {offset: data.length})
    expect(await readAll(atEnd.stream)).to.have.length(0)
    const past = await store.openRead('whole.png', {offset: data.length + 100})
    expect(past.offset).to.equal(data.length)
    expect(await readAll(past.stream)).to.have.length(0)
  })

  it('reads the whole image without a range', async () => {
    const opened = await store.openRead('whole.png')
    expect(opened.offset ?? 0).to.equal(0)
    expect(await readAll(opened.stream)).to.deep.equal(data)
  })
})
