import {errors} from '../errors.js'
import {printable} from '../printable.js'
import {simpleCaseFold} from './case-fold.js'

/** The image families iss stores. */
export type ImageFamily = 'PNG' | 'JPEG'

/** Longest stored name, in bytes of UTF-8 after NFC (the limit of ext4, APFS, NTFS and most others). */
export const MAX_NAME_BYTES = 255

/**
 * Longest name, in bytes of UTF-8, that is normalised at all. NFC can shrink text (a decomposed
 * character of up to 3 times its composed size: U+0390 as 3 code points, Hangul as jamo), so a name
 * within MAX_NAME_BYTES after NFC is within 3 times that before; 4 times leaves room. Checked before
 * any normalisation: canonical reordering is quadratic in a run of combining marks, and a 1 MiB name
 * of them took minutes. Within this bound NFC takes well under a millisecond.
 */
export const MAX_RAW_NAME_BYTES = 4 * MAX_NAME_BYTES

const FAMILY_BY_EXTENSION: ReadonlyMap<string, ImageFamily> = new Map([
  ['.jpeg', 'JPEG'],
  ['.jpg', 'JPEG'],
  ['.png', 'PNG'],
])

/**
 * Characters that draw like a path separator. A name holding one is harmless to the store, but a
 * person reading a listing, or a tool that folds look-alikes (NFKC), could take it for a path.
 */
const SEPARATOR_LOOK_ALIKES = new Set([
  0x0337, // COMBINING SHORT SOLIDUS OVERLAY
  0x0338, // COMBINING LONG SOLIDUS OVERLAY
  0x1735, // PHILIPPINE SINGLE PUNCTUATION
  0x2044, // FRACTION SLASH
  0x2215, // DIVISION SLASH
  0x2216, // SET MINUS
  0x2571, // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
  0x2572, // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
  0x29f5, // REVERSE SOLIDUS OPERATOR
  0x29f8, // BIG SOLIDUS
  0x29f9, // BIG REVERSE SOLIDUS
  0xfe68, // SMALL REVERSE SOLIDUS
  0xff0f, // FULLWIDTH SOLIDUS
  0xff3c, // FULLWIDTH REVERSE SOLIDUS
])

/** Characters Windows refuses in a file name; a client there must be able to save every stored name. */
const WINDOWS_FORBIDDEN = new Set(['"', '*', ':', '<', '>', '?', '|'])

/** Device names Windows resolves in every folder, with or without an extension (CON.png is the console). */
const WINDOWS_DEVICES = new Set(['AUX', 'CLOCK$', 'CON', 'CONIN$', 'CONOUT$', 'NUL', 'PRN'])
const WINDOWS_NUMBERED_DEVICE = /^(?:COM|LPT)[0-9\u{B9}\u{B2}\u{B3}]$/u

const PLAIN_ASCII = /^[\u{20}-\u{7E}]*$/u
const ASCII_FORBIDDEN = /[/\\<>:"|?*]/u

// In unicode mode, only a surrogate that is not half of a pair matches.
const LONE_SURROGATE = /\p{Cs}/u

/**
 * The key under which the store keeps one image per name: simple Unicode case folding
 * (CaseFolding.txt, statuses C and S) of the NFC form. `ΟΔΟΣ.png`, `οδος.png` and `οδοσ.png` are
 * one identity; so are `Cat.jpg` and `cat.JPG`. Throws IssError E_BAD_NAME, without normalising,
 * for a string too long to be a name (over MAX_RAW_NAME_BYTES), so a peer's megabyte costs nothing.
 */
export function identityKey(name: string): string {
  checkRawLength(name)
  return simpleCaseFold(name.normalize('NFC'))
}

/** Refuses, before any normalisation, a string that cannot be a name after NFC (see MAX_RAW_NAME_BYTES). */
function checkRawLength(name: string): void {
  // A UTF-16 unit is at least one byte of UTF-8: the cheap test first, then the exact one.
  if (name.length > MAX_RAW_NAME_BYTES || Buffer.byteLength(name, 'utf8') > MAX_RAW_NAME_BYTES) {
    throw errors.badName(printable(name, 60), `it is longer than ${MAX_NAME_BYTES} bytes of UTF-8`)
  }
}

/** The family by extension (.jpg/.jpeg -> JPEG, .png -> PNG, any case) or null. */
export function familyOf(name: string): ImageFamily | null {
  const dot = name.lastIndexOf('.')
  if (dot === -1) return null
  return FAMILY_BY_EXTENSION.get(name.slice(dot).toLowerCase()) ?? null
}

/**
 * Validates a name from the wire or the user and returns its NFC form, the form that is stored.
 * Throws IssError E_BAD_NAME when it is not one safe, portable path component, or
 * E_UNSUPPORTED_TYPE when its extension is not .jpg, .jpeg or .png (any case).
 */
export function validateImageName(name: string): string {
  if (typeof name !== 'string') throw errors.badName(String(name), 'a name must be a string')
  if (name.length === 0) throw errors.badName(name, 'the name is empty')
  // Cheap, linear checks first: nothing unbounded reaches NFC.
  checkRawLength(name)
  if (LONE_SURROGATE.test(name)) throw errors.badName(printable(name), 'the name holds an unpaired surrogate')
  const raw = whyBadCharacter(name)
  if (raw !== null) throw errors.badName(printable(name), raw)
  const nfc = name.normalize('NFC')
  const why = whyUnsafe(nfc)
  if (why !== null) throw errors.badName(printable(nfc), why)
  if (familyOf(nfc) === null) throw errors.unsupportedType(nfc)
  return nfc
}

function whyUnsafe(name: string): string | null {
  if (name === '.' || name === '..') return 'it names a directory'
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes of UTF-8`
  const badCharacter = whyBadCharacter(name)
  if (badCharacter !== null) return badCharacter
  if (name.startsWith('.')) return 'it starts with a dot (hidden file)'
  if (name.endsWith('.') || name.endsWith(' ')) return 'it ends with a dot or a space'
  // Windows ignores everything from the first dot and trailing spaces when matching device names.
  const stem = name.split('.', 1)[0].trimEnd().toUpperCase()
  if (WINDOWS_DEVICES.has(stem) || WINDOWS_NUMBERED_DEVICE.test(stem)) return 'it is a reserved device name on Windows'
  return null
}

function whyBadCharacter(name: string): string | null {
  // Fast path for the common plain-ASCII name; the loop covers everything else.
  if (PLAIN_ASCII.test(name)) {
    const hit = ASCII_FORBIDDEN.exec(name)?.[0]
    if (hit === undefined) return null
    if (hit === '/' || hit === '\\') return 'it holds a path separator'
    return `it holds '${hit}', which Windows does not allow in names`
  }

  for (const char of name) {
    const cp = char.codePointAt(0)!
    if (char === '/' || char === '\\') return 'it holds a path separator'
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 'it holds a control character'
    if (SEPARATOR_LOOK_ALIKES.has(cp)) return 'it holds a character that looks like a path separator'
    if (isInvisibleFormatting(cp)) return 'it holds an invisible formatting character'
    if (WINDOWS_FORBIDDEN.has(char)) return `it holds '${char}', which Windows does not allow in names`
  }

  return null
}

/**
 * Bidirectional overrides and line separators let a name display as something else
 * ("gnp.exe" shown reversed) or break a listing onto two lines.
 */
function isInvisibleFormatting(cp: number): boolean {
  return (
    (cp >= 0x202a && cp <= 0x202e) || // LRE, RLE, PDF, LRO, RLO
    (cp >= 0x2066 && cp <= 0x2069) || // LRI, RLI, FSI, PDI
    cp === 0x200e ||
    cp === 0x200f || // LRM, RLM
    cp === 0x061c || // ARABIC LETTER MARK
    cp === 0x2028 ||
    cp === 0x2029 // LINE and PARAGRAPH SEPARATOR
  )
}
