import {expect} from 'chai'
import {readdirSync, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {
  Download,
  partFileName,
  STALE_PART_MS,
  sweepStaleParts,
  TargetExistsError,
  truncateUtf8,
} from '../../src/core/download-target.js'
import {MAX_NAME_BYTES, validateImageName} from '../../src/core/images/names.js'
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

  describe('part file names stay within 255 bytes of UTF-8', () => {
    // 83 CJK characters (3 bytes each) + .jpg: 253 bytes, a name PUT accepts.
    const cjk = '\u{65E5}'.repeat(83) + '.jpg'
    // 62 four-byte emoji + .png: 252 bytes; a cut inside a surrogate pair would be a broken name.
    const emoji = '\u{1F431}'.repeat(62) + '.png'

    it('the longest stored names make part file names within the limit', () => {
      for (const name of [cjk, emoji, 'a'.repeat(251) + '.png', '\u{E9}'.repeat(125) + 'a.png']) {
        expect(validateImageName(name)).to.equal(name)
        const part = partFileName(name)
        expect(Buffer.byteLength(part), part).to.be.at.most(MAX_NAME_BYTES)
        expect(part).to.match(/^\..*\.iss-\d+-[\da-f]+\.part$/)
        expect(/\p{Cs}/u.test(part)).to.equal(false)
      }
    })

    it('downloads to a 253-byte CJK name (no ENAMETOOLONG) and publishes it', async () => {
      expect(Buffer.byteLength(cjk)).to.equal(253)
      const target = path.join(dir, cjk)
      const download = await Download.start(target)
      await download.sink.write(Buffer.from('data'))
      const [part] = readdirSync(dir)
      expect(part.startsWith('.\u{65E5}')).to.equal(true)
      await download.publish(false)
      expect(readdirSync(dir)).to.deep.equal([cjk])
      expect(readFileSync(target, 'utf8')).to.equal('data')
    })

    it('sweeps an abandoned part file of a long name', async () => {
      const part = partFileName(emoji).replace(`-${process.pid}-`, '-999999999-')
      writeFileSync(path.join(dir, part), 'x')
      expect(await sweepStaleParts(dir)).to.deep.equal([part])
    })

    it('truncateUtf8 cuts at a code point boundary within the budget', () => {
      expect(truncateUtf8('abc', 10)).to.equal('abc')
      expect(truncateUtf8('\u{65E5}\u{672C}', 5)).to.equal('\u{65E5}')
      expect(truncateUtf8('\u{1F431}\u{1F431}', 7)).to.equal('\u{1F431}')
      expect(truncateUtf8('\u{1F431}', 3)).to.equal('')
    })
  })
})
