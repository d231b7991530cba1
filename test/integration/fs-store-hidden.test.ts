// A store folder edited by hand: what the server will not serve is named once at start, with the reason.
import {expect} from 'chai'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {FsStore} from '../../src/core/store/fs-store.js'

const PNG = Buffer.from('89504e470d0a1a0a0000', 'hex')

describe('FsStore: entries of a hand-edited folder that are not served', () => {
  let root: string
  let store: FsStore | null = null
  const warnings: Array<{fields: unknown; message: string}> = []
  const logger = {
    warn(fields: unknown, message: string) {
      warnings.push({fields, message})
    },
  }

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'iss-fs-hidden-'))
    warnings.length = 0
  })

  afterEach(async () => {
    await store?.close()
    store = null
    rmSync(root, {recursive: true, force: true})
  })

  it('logs one warning at open naming each hidden entry and why', async () => {
    writeFileSync(join(root, 'ok.png'), PNG)
    writeFileSync(join(root, 'Twin.png'), PNG)
    writeFileSync(join(root, 'twin.PNG'), PNG)
    writeFileSync(join(root, 'notes.txt'), 'x')
    writeFileSync(join(root, 'con.png'), PNG)
    writeFileSync(join(root, 'cafe\u0301.png'), PNG)
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x62, 0xff, 0x2e, 0x70, 0x6e, 0x67])]), PNG)
    writeFileSync(join(root, 'evil\u001b]0;x\u0007.png'), PNG)
    mkdirSync(join(root, 'album'))
    symlinkSync(join(root, 'ok.png'), join(root, 'link.png'))
    writeFileSync(join(root, '.DS_Store'), 'x')

    store = new FsStore({root, logger: logger as never})
    await store.open()
    expect((await store.list()).map((image) => image.name)).to.deep.equal(['ok.png', 'Twin.png'])
    expect(warnings).to.have.length(1)
    const {message} = warnings[0]
    const hidden = new Map(store.hidden.map(({name, reason}) => [name, reason]))
    expect([...hidden.keys()].sort()).to.deep.equal(
      [
        'twin.PNG',
        'notes.txt',
        'con.png',
        'cafe\u0301.png',
        'b\uFFFD.png',
        'evil\u001b]0;x\u0007.png',
        'album',
        'link.png',
      ].sort(),
    )
    expect(hidden.get('twin.PNG')).to.match(/same name as 'Twin.png'/)
    expect(hidden.get('notes.txt')).to.match(/not a \.jpg, \.jpeg or \.png/)
    expect(hidden.get('con.png')).to.match(/reserved device name/)
    expect(hidden.get('cafe\u0301.png')).to.match(/NFC/)
    expect(hidden.get('b\uFFFD.png')).to.match(/not valid UTF-8/)
    expect(hidden.get('album')).to.match(/folder/)
    expect(hidden.get('link.png')).to.match(/symbolic link/)
    expect(message).to.match(/^8 entries of the store folder .* are not served/)
    for (const name of ['twin.PNG', 'notes.txt', 'con.png', 'album', 'link.png'])
      expect(message).to.contain(`'${name}'`)
    // Names from the folder are shown escaped: a log line cannot carry a terminal escape sequence.
    expect(message).to.not.contain('\u001b')
    expect(message).to.contain('evil\\u001b]0;x\\u0007.png')
    expect(message).to.not.contain('.DS_Store')
  })

  it('says nothing for a clean folder', async () => {
    writeFileSync(join(root, 'ok.png'), PNG)
    store = new FsStore({root, logger: logger as never})
    await store.open()
    expect(warnings).to.deep.equal([])
    expect(store.hidden).to.deep.equal([])
  })
})
