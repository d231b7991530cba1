import {expect} from 'chai'

import {familyOf, identityKey, MAX_NAME_BYTES, validateImageName} from '../../src/core/images/names.js'
import {ErrorCode, isIssError} from '../../src/core/errors.js'

/** Runs the validator and returns the error code it threw, or null. */
function codeOf(name: string): string | null {
  try {
    validateImageName(name)
    return null
  } catch (error) {
    if (!isIssError(error)) throw error
    return error.code
  }
}

const BAD = ErrorCode.BAD_NAME
const TYPE = ErrorCode.UNSUPPORTED_TYPE

// [name, expected code, why it is hostile or odd]
const REFUSED: Array<[string, string, string]> = [
  ['', BAD, 'empty'],
  ['.', BAD, 'current directory'],
  ['..', BAD, 'parent directory'],
  ['../x.png', BAD, 'traversal, forward slash'],
  ['..\\x.png', BAD, 'traversal, backslash'],
  ['../../../../etc/passwd.png', BAD, 'deep traversal'],
  ['/etc/x.png', BAD, 'absolute POSIX path'],
  ['\\\\server\\share\\x.png', BAD, 'UNC path'],
  ['C:\\x.png', BAD, 'drive path'],
  ['C:x.png', BAD, 'drive-relative path'],
  ['a/b.png', BAD, 'subfolder'],
  ['x.png/', BAD, 'trailing slash'],
  ['x\u{0}.png', BAD, 'NUL byte'],
  ['x.png\u{0}.jpg', BAD, 'NUL truncation trick'],
  ['a\nb.png', BAD, 'newline'],
  ['a\rb.png', BAD, 'carriage return'],
  ['a\tb.png', BAD, 'tab'],
  ['\u{1B}[31mred.png', BAD, 'ANSI escape'],
  ['a\u{7F}b.png', BAD, 'DEL'],
  ['a\u{85}b.png', BAD, 'C1 next line'],
  ['a\u{9B}b.png', BAD, 'C1 CSI'],
  ['CON.png', BAD, 'Windows console device'],
  ['con.jpg', BAD, 'device, lower case'],
  ['lpt1.JPG', BAD, 'printer device'],
  ['COM9.png', BAD, 'serial device'],
  ['COM0.jpeg', BAD, 'COM0'],
  ['COM\u{B9}.png', BAD, 'superscript digit device'],
  ['LPT\u{B3}.png', BAD, 'superscript three'],
  ['NUL.tar.png', BAD, 'device with two extensions'],
  ['AUX .png', BAD, 'device with trailing space in stem'],
  ['PRN.png', BAD, 'PRN'],
  ['CONOUT$.png', BAD, 'console output'],
  ['x.png.', BAD, 'trailing dot'],
  ['x.png ', BAD, 'trailing space'],
  ['x.png...', BAD, 'trailing dots'],
  ['.hidden.png', BAD, 'leading dot'],
  ['.png', BAD, 'only an extension'],
  ['a\u{2215}b.png', BAD, 'division slash'],
  ['a\u{2044}b.png', BAD, 'fraction slash'],
  ['a\u{FF0F}b.png', BAD, 'fullwidth solidus'],
  ['a\u{FF3C}b.png', BAD, 'fullwidth reverse solidus'],
  ['a\u{29F8}b.png', BAD, 'big solidus'],
  ['a\u{2216}b.png', BAD, 'set minus'],
  ['..\u{2215}..\u{2215}x.png', BAD, 'look-alike traversal'],
  ['a\u{202E}gnp.exe.png', BAD, 'right-to-left override'],
  ['a\u{2028}b.png', BAD, 'line separator'],
  ['a:b.png', BAD, 'NTFS alternate data stream'],
  ['a?.png', BAD, 'Windows wildcard'],
  ['a*.png', BAD, 'Windows wildcard star'],
  ['a|b.png', BAD, 'pipe'],
  ['a"b.png', BAD, 'double quote'],
  ['a<b>.png', BAD, 'angle brackets'],
  ['a\u{D800}.png', BAD, 'lone surrogate'],
  ['\u{E9}'.repeat(126) + '.png', BAD, '256 bytes of UTF-8 with multibyte chars'],
  ['a'.repeat(252) + '.png', BAD, '256 ASCII bytes'],
  ['\u{65E5}'.repeat(84) + '.png', BAD, '256 bytes with three-byte chars'],
  ['a.gif', TYPE, 'GIF'],
  ['noext', TYPE, 'no extension'],
  ['x.png.exe', TYPE, 'double extension, executable last'],
  ['x.svg', TYPE, 'SVG'],
  ['x.pngx', TYPE, 'extension prefix'],
  ['x.jpe', TYPE, 'unsupported JPEG variant'],
  ['png', TYPE, 'extension without a dot'],
  ['x.', BAD, 'empty extension with trailing dot'],
]

describe('image names', () => {
  describe('refused', () => {
    it('has a table of at least 40 hostile or odd names', () => {
      expect(REFUSED.length).to.be.at.least(40)
    })

    for (const [name, code, why] of REFUSED) {
      it(`${why}: ${JSON.stringify(name.length > 40 ? name.slice(0, 40) + '...' : name)} -> ${code}`, () => {
        expect(codeOf(name)).to.equal(code)
      })
    }

    it('never puts raw control characters or lone surrogates into the message', () => {
      for (const name of ['a\u{0}b.png', 'a\u{1B}[2Jb.png', 'a\u{D800}.png', 'a\u{202E}b.png']) {
        let message = ''
        try {
          validateImageName(name)
        } catch (error) {
          message = (error as Error).message
        }

        expect(message).to.match(/^Invalid file name/)
        // eslint-disable-next-line no-control-regex -- the test is that no control character gets into the message
        expect(message).not.to.match(/[\u{0}-\u{1F}\u{202E}]|\p{Cs}/u)
      }
    })

    it('refuses values that are not strings', () => {
      expect(codeOf(42 as unknown as string)).to.equal(BAD)
    })
  })

  describe('accepted', () => {
    const cases: Array<[string, string]> = [
      ['IMG_0001.JPG', 'IMG_0001.JPG'],
      ['cat.jpg', 'cat.jpg'],
      ['Cat.Jpeg', 'Cat.Jpeg'],
      ['photo.PNG', 'photo.PNG'],
      ['\u{65E5}\u{672C}.jpeg', '\u{65E5}\u{672C}.jpeg'],
      ['with space.png', 'with space.png'],
      ['a..b.png', 'a..b.png'],
      ['CONSOLE.png', 'CONSOLE.png'],
      ['COM10.png', 'COM10.png'],
      ['x.png.jpg', 'x.png.jpg'],
      ['\u{1F431}.png', '\u{1F431}.png'],
      ['a'.repeat(251) + '.png', 'a'.repeat(251) + '.png'],
    ]
    for (const [name, stored] of cases) {
      it(`accepts ${JSON.stringify(name.length > 40 ? name.slice(0, 40) + '...' : name)}`, () => {
        expect(validateImageName(name)).to.equal(stored)
      })
    }

    it('returns the NFC form of an NFD name', () => {
      const nfd = 'cafe\u{301}.png'
      const stored = validateImageName(nfd)
      expect(stored).to.equal('caf\u{E9}.png')
      expect(stored).not.to.equal(nfd)
    })

    it('accepts exactly 255 bytes of UTF-8 with multibyte characters', () => {
      const name = '\u{E9}'.repeat(125) + 'a.png'
      expect(Buffer.byteLength(name)).to.equal(MAX_NAME_BYTES)
      expect(validateImageName(name)).to.equal(name)
    })

    it('measures length after NFC (NFD form longer than 255 bytes is fine if NFC fits)', () => {
      const nfd = 'e\u{301}'.repeat(125) + 'a.png'
      expect(Buffer.byteLength(nfd)).to.be.greaterThan(MAX_NAME_BYTES)
      expect(Buffer.byteLength(validateImageName(nfd))).to.equal(MAX_NAME_BYTES)
    })
  })

  describe('identityKey', () => {
    it('folds case and normalisation', () => {
      expect(identityKey('Cat.JPG')).to.equal(identityKey('cat.jpg'))
      expect(identityKey('CAFE\u{301}.png')).to.equal(identityKey('caf\u{E9}.PNG'))
      expect(identityKey('cat.jpg')).not.to.equal(identityKey('cat.jpeg'))
    })
  })

  describe('familyOf', () => {
    const cases: Array<[string, string | null]> = [
      ['a.png', 'PNG'],
      ['a.PnG', 'PNG'],
      ['a.jpg', 'JPEG'],
      ['a.JPEG', 'JPEG'],
      ['a.gif', null],
      ['png', null],
      ['a.png.txt', null],
    ]
    for (const [name, family] of cases) {
      it(`${name} -> ${family}`, () => expect(familyOf(name)).to.equal(family))
    }
  })
})
