import {expect} from 'chai'

import {matchesFamily, SNIFF_BYTES, sniffFamily} from '../../src/core/images/sniff.js'

const PNG_HEAD = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')
const JPEG_HEAD = Buffer.from('ffd8ffe000104a464946000101000001', 'hex')
const JPEG_EXIF_HEAD = Buffer.from('ffd8ffe1', 'hex')

describe('content sniffing', () => {
  it('needs no more than SNIFF_BYTES bytes', () => {
    expect(SNIFF_BYTES).to.equal(8)
    expect(matchesFamily(PNG_HEAD.subarray(0, SNIFF_BYTES), 'PNG')).to.equal(true)
  })

  it('recognises a PNG signature', () => {
    expect(matchesFamily(PNG_HEAD, 'PNG')).to.equal(true)
    expect(matchesFamily(PNG_HEAD, 'JPEG')).to.equal(false)
    expect(sniffFamily(PNG_HEAD)).to.equal('PNG')
  })

  it('recognises JPEG start of image (JFIF and Exif)', () => {
    expect(matchesFamily(JPEG_HEAD, 'JPEG')).to.equal(true)
    expect(matchesFamily(JPEG_EXIF_HEAD, 'JPEG')).to.equal(true)
    expect(matchesFamily(JPEG_HEAD, 'PNG')).to.equal(false)
    expect(sniffFamily(JPEG_HEAD)).to.equal('JPEG')
  })

  it('refuses a head shorter than the signature', () => {
    expect(matchesFamily(PNG_HEAD.subarray(0, 7), 'PNG')).to.equal(false)
    expect(matchesFamily(JPEG_HEAD.subarray(0, 2), 'JPEG')).to.equal(false)
    expect(matchesFamily(Buffer.alloc(0), 'PNG')).to.equal(false)
    expect(matchesFamily(Buffer.alloc(0), 'JPEG')).to.equal(false)
  })

  it('refuses a signature with one byte changed', () => {
    for (let i = 0; i < 8; i++) {
      const head = Buffer.from(PNG_HEAD)
      head[i] ^= 0x20
      expect(matchesFamily(head, 'PNG'), `byte ${i}`).to.equal(false)
    }

    for (let i = 0; i < 3; i++) {
      const head = Buffer.from(JPEG_HEAD)
      head[i] ^= 0x01
      expect(matchesFamily(head, 'JPEG'), `byte ${i}`).to.equal(false)
    }
  })

  it('refuses other formats and text', () => {
    for (const head of [
      Buffer.from('GIF89a\u{1}\u{0}'),
      Buffer.from('<svg xmlns='),
      Buffer.from('MZ\u{90}\u{0}\u{3}\u{0}\u{0}\u{0}'),
    ]) {
      expect(matchesFamily(head, 'PNG')).to.equal(false)
      expect(matchesFamily(head, 'JPEG')).to.equal(false)
      expect(sniffFamily(head)).to.equal(null)
    }
  })

  it('refuses an unknown family', () => {
    expect(matchesFamily(PNG_HEAD, 'GIF' as 'PNG')).to.equal(false)
  })
})
