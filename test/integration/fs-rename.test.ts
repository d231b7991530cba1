import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {assertContentMatchesName} from '../../src/core/images/content-check.js'
import {FsStore} from '../../src/core/store/fs-store.js'
import {codeOf} from '../support/error-code.js'
import {fill, randomPng} from '../support/upload-data.js'

// A real 1 x 1 PNG head (signature and IHDR with its CRC) and a JPEG head (SOI and a whole APP0 segment).
const PNG_HEAD = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex')
const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex')

describe('filesystem store: rename(from, to) never replaces', () => {
  let root: string
  let store: FsStore

  async function put(name: string, data: Buffer): Promise<void> {
    const upload = await store.beginUpload(name, data.length)
    expect(await fill(upload, data)).to.equal(null)
    await upload.commit(name)
  }

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'iss-fs-rename-'))
    store = new FsStore({root, fsync: false})
    await store.open()
  })

  afterEach(async () => {
    await store.close()
    rmSync(root, {recursive: true, force: true})
  })

  it('moves the bytes to the new name, case-insensitively from the old one, and frees the old name', async () => {
    const data = randomPng(5000)
    await put('Cat.png', data)
    const renamed = await store.rename('CAT.PNG', 'Dog.png')
    expect(renamed).to.include({name: 'Dog.png', size: 5000})
    expect(readdirSync(root).filter((name) => !name.startsWith('.'))).to.deep.equal(['Dog.png'])
    expect(readFileSync(join(root, 'Dog.png')).equals(data)).to.equal(true)
    expect(await store.stat('cat.png')).to.equal(null)
    expect((await store.stat('dog.PNG'))?.name).to.equal('Dog.png')
    // The old name can be used again.
    await put('cat.png', randomPng(10))
  })

  it('refuses a target that is taken (E_DUPLICATE) and a source that is missing (E_NOT_FOUND), changing nothing', async () => {
    const a = randomPng(100)
    const b = randomPng(200)
    await put('a.png', a)
    await put('b.png', b)
    expect(await codeOf(store.rename('a.png', 'B.PNG'))).to.equal('E_DUPLICATE')
    expect(await codeOf(store.rename('none.png', 'c.png'))).to.equal('E_NOT_FOUND')
    expect(readFileSync(join(root, 'a.png')).equals(a)).to.equal(true)
    expect(readFileSync(join(root, 'b.png')).equals(b)).to.equal(true)
  })

  it('refuses a target that exists in the folder without being indexed (link() never replaces)', async () => {
    await put('a.png', randomPng(100))
    writeFileSync(join(root, 'by-hand.png'), 'added while the server runs')
    expect(await codeOf(store.rename('a.png', 'by-hand.png'))).to.equal('E_DUPLICATE')
    expect(readFileSync(join(root, 'by-hand.png'), 'utf8')).to.equal('added while the server runs')
    expect(await store.stat('a.png')).to.not.equal(null)
  })

  it('changes only the case of a name when asked, but refuses the very same name', async () => {
    await put('cat.png', randomPng(100))
    expect((await store.rename('cat.png', 'Cat.png')).name).to.equal('Cat.png')
    expect(readdirSync(root).filter((name) => !name.startsWith('.'))).to.deep.equal(['Cat.png'])
    expect(await codeOf(store.rename('cat.png', 'Cat.png'))).to.equal('E_DUPLICATE')
  })

  it('lets exactly one of 20 concurrent renames onto one target win', async () => {
    for (let i = 0; i < 20; i++) await put(`src-${i}.png`, randomPng(64 + i))
    const outcomes = await Promise.allSettled(
      Array.from({length: 20}, async (_, i) => store.rename(`src-${i}.png`, 'target.png')),
    )
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled')
    expect(won).to.have.length(1)
    const lost = outcomes.filter((outcome) => outcome.status === 'rejected')
    const codes = lost.map((outcome) => (outcome.reason as {code?: unknown}).code)
    expect(codes).to.deep.equal(Array.from({length: 19}, () => 'E_DUPLICATE'))
    expect((await store.list()).length).to.equal(20)
  })

  it('assertContentMatchesName: PNG bytes under a .jpg name are refused, from a buffer and from the store', async () => {
    await put('p.png', Buffer.concat([PNG_HEAD, Buffer.alloc(100)]))
    expect(await assertContentMatchesName('q.PNG', await store.openRead('p.png'))).to.equal('q.PNG')
    const mismatch = assertContentMatchesName('p.jpg', await store.openRead('p.png'))
    expect(await codeOf(mismatch)).to.equal('E_CONTENT_MISMATCH')
    expect(await assertContentMatchesName('j.jpeg', JPEG)).to.equal('j.jpeg')
    expect(await codeOf(assertContentMatchesName('j.png', JPEG))).to.equal('E_CONTENT_MISMATCH')
    expect(await codeOf(assertContentMatchesName('e.png', Buffer.alloc(0)))).to.equal('E_EMPTY')
    expect(await codeOf(assertContentMatchesName('x.gif', JPEG))).to.equal('E_UNSUPPORTED_TYPE')
  })
})
