/* eslint-disable mocha/no-exports, mocha/no-top-level-hooks -- a shared suite: its hooks run inside the describe() that calls it */
// The behaviour every store backend owes the handlers (src/core/store/store.ts), as one suite that
// each backend's test runs against a fresh store: the filesystem store and the s3 store on RGW.
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import type {Readable} from 'node:stream'

import {identityKey} from '../../src/core/images/names.js'
import type {ImageStore, OpenedImage, StoredImage} from '../../src/core/store/store.js'
import {codeOf} from './error-code.js'
import {fill, randomPng} from './upload-data.js'

/** openRead with the part-of-an-image range of the store seam. */
type RangedOpen = (name: string, range?: {offset: number; length?: number}) => Promise<OpenedImage>

export interface StoreUnderTest {
  readonly store: ImageStore
  /** Removes what the store left behind (its folder, its prefix). */
  cleanup(): Promise<void>
}

export interface ContractOptions {
  /** A fresh, opened, empty store. */
  readonly make: () => Promise<StoreUnderTest>
  /** The backend serves `openRead(name, {offset, length})`. */
  readonly ranged: boolean
  /** The backend keeps each image's SHA-256 (`StoredImage.sha256`). */
  readonly sha256: boolean
}

function digest(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function put(store: ImageStore, name: string, data: Buffer): Promise<StoredImage> {
  const upload = await store.beginUpload(name, data.length)
  const failure = await fill(upload, data)
  if (failure !== null) throw failure as Error
  return upload.commit(name)
}

/** Defines the contract's tests in the current mocha suite. */
export function storeContract(options: ContractOptions): void {
  let under: StoreUnderTest
  let store: ImageStore

  beforeEach(async () => {
    under = await options.make()
    store = under.store
  })

  afterEach(async () => {
    await under?.cleanup()
  })

  it('stores an image once per identity: a second name of the same identity is E_DUPLICATE and changes nothing', async () => {
    const first = randomPng(5000)
    const stored = await put(store, 'Ὀδός.png', first)
    expect(stored).to.include({name: 'Ὀδός.png', size: 5000})
    if (options.sha256) expect((stored as {sha256?: string}).sha256).to.equal(digest(first))
    // Another case, the decomposed form of the same letters, final sigma: one identity.
    const other = 'ὀδόσ.PNG'.normalize('NFD')
    expect(await codeOf(put(store, other, randomPng(10)))).to.equal('E_DUPLICATE')
    const opened = await store.openRead(other)
    expect(opened.image.name).to.equal('Ὀδός.png')
    expect(digest(await readAll(opened.stream))).to.equal(digest(first))
  })

  it('lets exactly one of several concurrent uploads of one name win, and keeps the winner’s bytes', async () => {
    const bodies = Array.from({length: 6}, (_, i) => randomPng(3000 + i))
    const uploads = await Promise.all(bodies.map(async (body) => store.spool(body.length)))
    await Promise.all(uploads.map(async (upload, i) => fill(upload, bodies[i])))
    const outcomes = await Promise.allSettled(
      uploads.map(async (upload, i) => upload.commit(i % 2 ? 'race.png' : 'RACE.png')),
    )
    const winners = outcomes.flatMap((outcome, i) => (outcome.status === 'fulfilled' ? [i] : []))
    expect(winners).to.have.length(1)
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect((outcome.reason as {code?: string}).code).to.equal('E_DUPLICATE')
    }
    const opened = await store.openRead('race.png')
    expect(digest(await readAll(opened.stream))).to.equal(digest(bodies[winners[0]]))
    expect(await store.list()).to.have.length(1)
  })

  it('reads an image whole, with its size', async () => {
    const data = randomPng(300_000)
    await put(store, 'whole.png', data)
    const opened = await store.openRead('WHOLE.png')
    expect(opened.image).to.include({name: 'whole.png', size: data.length})
    expect((await readAll(opened.stream)).equals(data)).to.equal(true)
  })

  it('reads part of an image from an offset, with or without a length', async function () {
    if (!options.ranged) this.skip()
    const data = randomPng(100_000)
    await put(store, 'part.png', data)
    const open: RangedOpen = store.openRead.bind(store)
    const middle = await open('part.png', {offset: 1000, length: 2345})
    expect(middle.image.size).to.equal(data.length)
    expect((await readAll(middle.stream)).equals(data.subarray(1000, 3345))).to.equal(true)
    const tail = await open('part.png', {offset: 99_000})
    expect((await readAll(tail.stream)).equals(data.subarray(99_000))).to.equal(true)
    const end = await open('part.png', {offset: data.length})
    expect(await readAll(end.stream)).to.have.length(0)
  })

  it('lists names sorted by identity key, whole or in pages after a key', async () => {
    const names = ['b.png', 'A.png', 'c.JPG', 'Ábc.png', 'ζ.png', '😀.png', 'a1.png', 'Z.png']
    for (const name of names) await put(store, name, randomPng(100 + name.length))
    const expected = names.toSorted((x, y) => {
      const [a, b] = [identityKey(x), identityKey(y)]
      // Code point order (UTF-8 byte order), not UTF-16 order.
      return Buffer.compare(Buffer.from(a), Buffer.from(b))
    })
    const all = await store.list()
    expect(all.map((image) => image.name)).to.deep.equal(expected)
    const paged: string[] = []
    let after: string | undefined
    for (let page = 0; page < 10; page++) {
      const images = await store.list({after, limit: 3})
      if (images.length === 0) break
      paged.push(...images.map((image) => image.name))
      after = identityKey(images.at(-1)!.name)
    }

    expect(paged).to.deep.equal(expected)
    expect((await store.list({after: identityKey('b.png')})).map((image) => image.name)).to.deep.equal(
      expected.slice(expected.indexOf('b.png') + 1),
    )
  })

  it('states an image’s facts by any form of its name, and null for a missing one', async () => {
    const data = randomPng(777)
    await put(store, 'Facts.png', data)
    const facts = await store.stat('FACTS.PNG')
    expect(facts).to.include({name: 'Facts.png', size: 777})
    if (options.sha256) expect((facts as {sha256?: string}).sha256).to.equal(digest(data))
    expect(await store.stat('missing.png')).to.equal(null)
  })

  it('deletes an image: gone from read, stat and list; a second delete is E_NOT_FOUND; the name can be reused', async () => {
    await put(store, 'gone.png', randomPng(500))
    const removed = await store.delete('GONE.png')
    expect(removed).to.include({name: 'gone.png', size: 500})
    expect(await store.stat('gone.png')).to.equal(null)
    expect(await codeOf(store.openRead('gone.png'))).to.equal('E_NOT_FOUND')
    expect(await codeOf(store.delete('gone.png'))).to.equal('E_NOT_FOUND')
    expect(await store.list()).to.deep.equal([])
    const again = randomPng(600)
    await put(store, 'Gone.png', again)
    expect((await readAll((await store.openRead('gone.png')).stream)).equals(again)).to.equal(true)
  })

  it('renames without replacing: the bytes follow the new name; taken and missing names are refused', async function () {
    if (store.rename === undefined) this.skip()
    const data = randomPng(4000)
    await put(store, 'old.png', data)
    await put(store, 'taken.png', randomPng(10))
    const renamed = await store.rename('OLD.png', 'New.png')
    expect(renamed).to.include({name: 'New.png', size: 4000})
    expect(await store.stat('old.png')).to.equal(null)
    expect((await readAll((await store.openRead('new.png')).stream)).equals(data)).to.equal(true)
    expect(await codeOf(store.rename('new.png', 'TAKEN.png'))).to.equal('E_DUPLICATE')
    expect(await codeOf(store.rename('missing.png', 'other.png'))).to.equal('E_NOT_FOUND')
    expect((await store.list()).map((image) => image.name)).to.deep.equal(['New.png', 'taken.png'])
  })

  it('shows nothing of an aborted upload or an empty one', async () => {
    const upload = await store.beginUpload('never.png', 20_000)
    upload.sink.write(randomPng(10_000))
    await upload.abort()
    const empty = await store.beginUpload('empty.png', 0)
    expect(await codeOf(empty.commit('empty.png'))).to.equal('E_EMPTY')
    expect(await store.list()).to.deep.equal([])
    expect(await store.stat('never.png')).to.equal(null)
  })
}
