import {expect} from 'chai'
import {spawnSync} from 'node:child_process'

import {matchesFamily, SNIFF_BYTES, sniffFamily, whyNotFamily} from '../../src/core/images/sniff.js'
import {jpegHead, pngHead} from '../fixtures/images.js'

const PNG_HEAD = pngHead(640, 480)
const JPEG_HEAD = jpegHead()
/** SOI, then an Exif APP1 segment of 0x1000 bytes: its head only, the rest follows. */
const JPEG_EXIF_HEAD = Buffer.from('ffd8ffe110004578696600004d4d002a', 'hex')

// A real 1 x 1 RGB PNG (IHDR, IDAT, IEND) and a real 8 x 8 grey baseline JPEG (JFIF, DQT, SOF0, DHT,
// SOS with one DC-only block, EOI), written by CPython's struct and zlib.
const REAL_IMAGES = String.raw`
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00')) + chunk(b'IEND', b''))
def segment(marker, data):
    return b'\xff' + bytes([marker]) + struct.pack('>H', len(data) + 2) + data
jpeg = (b'\xff\xd8' + segment(0xe0, b'JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00')
        + segment(0xdb, b'\x00' + b'\x01' * 64)
        + segment(0xc0, struct.pack('>BHHB', 8, 8, 8, 1) + b'\x01\x11\x00')
        + segment(0xc4, b'\x00' + bytes([1] + [0] * 15) + b'\x00')
        + segment(0xc4, b'\x10' + bytes([1] + [0] * 15) + b'\x00')
        + segment(0xda, b'\x01\x01\x00\x00\x3f\x00') + b'\x3f' + b'\xff\xd9')
sys.stdout.write(png.hex() + ' ' + jpeg.hex())
`

describe('content sniffing', () => {
  it('needs no more than SNIFF_BYTES bytes: the PNG signature and its IHDR chunk', () => {
    expect(SNIFF_BYTES).to.equal(33)
    expect(matchesFamily(PNG_HEAD.subarray(0, SNIFF_BYTES), 'PNG')).to.equal(true)
  })

  it('recognises a PNG signature with a valid IHDR chunk', () => {
    expect(matchesFamily(PNG_HEAD, 'PNG')).to.equal(true)
    expect(matchesFamily(PNG_HEAD, 'JPEG')).to.equal(false)
    expect(sniffFamily(PNG_HEAD)).to.equal('PNG')
  })

  it('recognises JPEG start of image (JFIF and Exif)', () => {
    expect(matchesFamily(JPEG_HEAD, 'JPEG')).to.equal(true)
    expect(matchesFamily(JPEG_EXIF_HEAD, 'JPEG', 0x1004)).to.equal(true)
    expect(matchesFamily(JPEG_HEAD, 'PNG')).to.equal(false)
    expect(sniffFamily(JPEG_HEAD)).to.equal('JPEG')
  })

  it('accepts a real small PNG and JPEG made by CPython', function () {
    this.timeout(30_000) // starting python3 on a busy machine
    const made = spawnSync('python3', ['-c', REAL_IMAGES], {encoding: 'utf8'})
    expect(made.status, made.stderr).to.equal(0)
    const [png, jpeg] = made.stdout.split(' ').map((hex) => Buffer.from(hex, 'hex'))
    expect(whyNotFamily(png.subarray(0, SNIFF_BYTES), 'PNG', png.length)).to.equal(null)
    expect(whyNotFamily(jpeg.subarray(0, SNIFF_BYTES), 'JPEG', jpeg.length)).to.equal(null)
    expect(sniffFamily(png)).to.equal('PNG')
    expect(sniffFamily(jpeg)).to.equal('JPEG')
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

  describe('structure beyond the magic bytes', () => {
    it('refuses a 3-byte FF D8 FF ".jpg"', () => {
      expect(whyNotFamily(Buffer.from('ffd8ff', 'hex'), 'JPEG')).to.match(/ends inside its first marker/)
    })

    it('refuses a PNG signature followed by HTML', () => {
      const fake = Buffer.concat([PNG_HEAD.subarray(0, 8), Buffer.from('<html><script>alert(1)</script></html>')])
      expect(whyNotFamily(fake.subarray(0, SNIFF_BYTES), 'PNG', fake.length)).to.match(/IHDR/)
    })

    it('refuses a PNG whose IHDR CRC is wrong, one bit at a time', () => {
      for (const at of [12, 16, 24, 29, 32]) {
        const head = Buffer.from(PNG_HEAD)
        head[at] ^= 0x01
        expect(matchesFamily(head, 'PNG'), `byte ${at}`).to.equal(false)
      }

      const wrongCrc = Buffer.from(PNG_HEAD)
      wrongCrc.writeUInt32BE((wrongCrc.readUInt32BE(29) + 1) >>> 0, 29)
      expect(whyNotFamily(wrongCrc, 'PNG')).to.match(/wrong CRC/)
    })

    it('refuses a PNG of zero width or height, or an invalid bit depth, even with a correct CRC', () => {
      expect(whyNotFamily(pngHead(0, 10), 'PNG')).to.match(/size 0 x 10/)
      expect(whyNotFamily(pngHead(10, 0), 'PNG')).to.match(/size 10 x 0/)
      expect(matchesFamily(pngHead(1, 1), 'PNG')).to.equal(true)
    })

    it('refuses a PNG whose first chunk is not IHDR or not 13 bytes', () => {
      const idat = Buffer.from(PNG_HEAD)
      idat.write('IDAT', 12, 'latin1')
      expect(whyNotFamily(idat, 'PNG')).to.match(/IHDR chunk of 13 bytes/)
      const long = Buffer.from(PNG_HEAD)
      long.writeUInt32BE(14, 8)
      expect(whyNotFamily(long, 'PNG')).to.match(/IHDR chunk of 13 bytes/)
    })

    it('refuses a JPEG whose first segment is cut short or has an impossible length', () => {
      expect(whyNotFamily(JPEG_HEAD.subarray(0, 19), 'JPEG')).to.match(/ends inside its first segment/)
      expect(whyNotFamily(JPEG_EXIF_HEAD, 'JPEG', 0x1003)).to.match(/ends inside its first segment/)
      expect(whyNotFamily(Buffer.from('ffd8ffe00001', 'hex'), 'JPEG')).to.match(/invalid length 1/)
    })

    it('refuses a JPEG whose first marker cannot open an image (EOI, RST0, SOS, stuffed 00)', () => {
      for (const marker of ['d9', 'd0', 'da', '00', 'd8', 'ff']) {
        const head = Buffer.from(`ffd8ff${marker}0010`, 'hex')
        expect(matchesFamily(head, 'JPEG', 1000), marker).to.equal(false)
      }

      for (const marker of ['c0', 'c2', 'c4', 'db', 'dd', 'e0', 'e1', 'ef', 'fe']) {
        const head = Buffer.from(`ffd8ff${marker}0010`, 'hex')
        expect(matchesFamily(head, 'JPEG', 1000), marker).to.equal(true)
      }
    })
  })
})
