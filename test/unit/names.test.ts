import {expect} from 'chai'

import {simpleCaseFold} from '../../src/core/images/case-fold.js'
import {CASE_FOLDING_RUNS} from '../../src/core/images/case-folding-table.js'
import {
  familyOf,
  identityKey,
  MAX_NAME_BYTES,
  MAX_RAW_NAME_BYTES,
  validateImageName,
} from '../../src/core/images/names.js'
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

    it('is simple Unicode case folding: ΟΔΟΣ, οδος and οδοσ are one identity', () => {
      const keys = [
        '\u{39F}\u{394}\u{39F}\u{3A3}.png',
        '\u{3BF}\u{3B4}\u{3BF}\u{3C2}.png',
        '\u{3BF}\u{3B4}\u{3BF}\u{3C3}.png',
      ].map((name) => identityKey(name))
      expect(keys[0]).to.equal(keys[1])
      expect(keys[1]).to.equal(keys[2])
      expect(keys[0]).to.equal('\u{3BF}\u{3B4}\u{3BF}\u{3C3}.png')
    })

    it('folds the characters toLowerCase() leaves apart (long s, Kelvin sign, capital sharp s, Cherokee)', () => {
      expect(identityKey('\u{17F}un.png')).to.equal(identityKey('SUN.png'))
      expect(identityKey('\u{212A}.png')).to.equal(identityKey('k.png'))
      expect(identityKey('STRA\u{1E9E}E.png')).to.equal(identityKey('stra\u{DF}e.png'))
      // Cherokee folds to its upper case (CaseFolding.txt keeps it stable that way).
      expect(identityKey('\u{AB70}.png')).to.equal(identityKey('\u{13A0}.png'))
      expect(identityKey('\u{AB70}.png')).to.equal('\u{13A0}.png')
    })

    it('uses simple folding, not full: ß and ss stay two identities', () => {
      expect(identityKey('stra\u{DF}e.png')).not.to.equal(identityKey('strasse.png'))
      expect(identityKey('\u{130}.png')).not.to.equal(identityKey('i.png'))
    })

    it("agrees with the JavaScript engine's own simple folding (RegExp /iu) on every table entry", () => {
      let checked = 0
      for (let i = 0; i < CASE_FOLDING_RUNS.length; i += 4) {
        const [first, count, step, delta] = CASE_FOLDING_RUNS.slice(i, i + 4)
        for (let k = 0; k < count; k++) {
          const from = String.fromCodePoint(first + k * step)
          const to = String.fromCodePoint(first + k * step + delta)
          expect(simpleCaseFold(from)).to.equal(to)
          expect(new RegExp(`^${escapeRegExp(to)}$`, 'iu').test(from), from).to.equal(true)
          checked++
        }
      }

      expect(checked).to.be.above(1400)
    })

    it('refuses a string too long to be a name before normalising it', () => {
      const hostile = 'a' + '\u{301}'.repeat(262_000) + '\u{334}'.repeat(262_000) + '.png'
      expect(Buffer.byteLength(hostile)).to.be.above(1_000_000)
      expect(() => identityKey(hostile)).to.throw(/longer than 255 bytes/)
      expect(codeOf(hostile)).to.equal(BAD)
    })
  })

  describe('length is checked before normalisation', () => {
    it('refuses the quadratic NFC shape (1 MiB of combining marks) with E_BAD_NAME, and fast', function () {
      // Canonical reordering is quadratic: normalising this took about 185 s. Refused from its length,
      // it takes microseconds; the mocha timeout is the bound (nothing here measures speed).
      this.timeout(2000)
      const hostile = 'a' + '\u{301}'.repeat(262_000) + '\u{334}'.repeat(262_000) + '.png'
      expect(codeOf(hostile)).to.equal(BAD)
    })

    it('still accepts a decomposed name whose NFC form fits (Hangul jamo, 3 times longer)', () => {
      const syllables = '\u{D55C}'.repeat(83) + '.png'
      expect(Buffer.byteLength(syllables)).to.equal(253)
      const jamo = syllables.normalize('NFD')
      expect(Buffer.byteLength(jamo))
        .to.be.above(3 * 250)
        .and.at.most(MAX_RAW_NAME_BYTES)
      expect(validateImageName(jamo)).to.equal(syllables)
    })

    it('refuses a decomposed name over MAX_RAW_NAME_BYTES without normalising', () => {
      const long = 'e\u{301}'.repeat(400) + '.png'
      expect(Buffer.byteLength(long)).to.be.above(MAX_RAW_NAME_BYTES)
      expect(codeOf(long)).to.equal(BAD)
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

function escapeRegExp(text: string): string {
  return text.replaceAll(/[$()*+.?[\\\]^{|}]/g, String.raw`\$&`)
}
