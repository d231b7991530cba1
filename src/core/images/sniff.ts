import type {ImageFamily} from './names.js'

/**
 * How many leading bytes {@link matchesFamily} looks at: PNG's signature and whole IHDR chunk
 * (8 + 4 length + 4 type + 13 data + 4 CRC). A JPEG's first marker segment is checked from its head
 * (marker and length) and the total size (the segment must be complete).
 */
export const SNIFF_BYTES = 33

/** PNG file signature (PNG spec, 5.2): \x89 P N G \r \n \x1a \n. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const IHDR = Buffer.from('IHDR', 'latin1')
const IHDR_LENGTH = 13
const PNG_MAX_DIMENSION = 2 ** 31 - 1
/** Allowed bit depths per colour type (PNG spec, 11.2.2, table 11.1). */
const PNG_BIT_DEPTHS: ReadonlyMap<number, readonly number[]> = new Map([
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
])

/**
 * Markers that may open a JPEG after SOI and carry a length: SOF0-SOF15 (but C8, reserved), DHT (C4)
 * and DAC (CC) among them, DQT, DRI, APP0-APP15 and COM (ITU T.81, table B.1). Not SOI, EOI, RSTn,
 * TEM or SOS (scan data needs a frame header first), nor a stuffed 00.
 */
function isOpeningMarker(marker: number): boolean {
  return (
    (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc8) ||
    marker === 0xdb ||
    marker === 0xdd ||
    (marker >= 0xe0 && marker <= 0xef) ||
    marker === 0xfe
  )
}

/**
 * CRC-32 (ISO 3309, PNG spec annex D), bit by bit: it covers 17 bytes per upload, and zlib.crc32 is
 * missing from Node 22.0 and 22.1, which the engines range allows.
 */
function crc32(data: Buffer): number {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/**
 * Why `head` does not start like a PNG, or null: the signature, then an IHDR chunk of length 13 with
 * a correct CRC, non-zero width and height (at most 2^31 - 1), a valid bit depth for its colour
 * type, compression and filter method 0 and interlace 0 or 1.
 */
function whyNotPng(head: Buffer): string | null {
  if (head.length < PNG_SIGNATURE.length || !head.subarray(0, 8).equals(PNG_SIGNATURE)) return 'no PNG signature'
  if (head.length < SNIFF_BYTES) return 'the PNG ends before its IHDR chunk'
  if (head.readUInt32BE(8) !== IHDR_LENGTH || !head.subarray(12, 16).equals(IHDR))
    return 'the PNG does not start with an IHDR chunk of 13 bytes'
  if (crc32(head.subarray(12, 29)) !== head.readUInt32BE(29)) return "the PNG's IHDR chunk has a wrong CRC"
  const width = head.readUInt32BE(16)
  const height = head.readUInt32BE(20)
  if (width === 0 || height === 0 || width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION)
    return `the PNG's size ${width} x ${height} is not valid`
  const [depth, colourType, compression, filter, interlace] = head.subarray(24, 29)
  if (!PNG_BIT_DEPTHS.get(colourType)?.includes(depth))
    return `the PNG's bit depth ${depth} with colour type ${colourType} is not valid`
  if (compression !== 0 || filter !== 0 || interlace > 1) return "the PNG's IHDR methods are not valid"
  return null
}

/** Why the data does not start like a JPEG, or null: SOI, then one complete marker segment that may open a JPEG. */
function whyNotJpeg(head: Buffer, totalBytes: number | undefined): string | null {
  if (head.length < 3 || head[0] !== 0xff || head[1] !== 0xd8 || head[2] !== 0xff) return 'no JPEG start of image'
  if (head.length < 6) return 'the JPEG ends inside its first marker'
  if (!isOpeningMarker(head[3]))
    return `the JPEG's first marker FF ${head[3].toString(16).toUpperCase()} is not valid there`
  const length = head.readUInt16BE(4)
  // The length counts its own two bytes; the segment's data must be all there.
  if (length < 2) return `the JPEG's first segment has an invalid length ${length}`
  if (totalBytes !== undefined && totalBytes < 4 + length) return 'the JPEG ends inside its first segment'
  return null
}

/**
 * Why the data (its first bytes `head`, and `totalBytes` in all) does not start like an image of the
 * family, or null if it does. Without `totalBytes`, a head shorter than SNIFF_BYTES is taken for the
 * whole data (callers read min(size, SNIFF_BYTES) bytes); a longer one says nothing about the rest.
 */
export function whyNotFamily(head: Buffer, family: ImageFamily, totalBytes?: number): string | null {
  if (family === 'PNG') return whyNotPng(head)
  const total = totalBytes ?? (head.length < SNIFF_BYTES ? head.length : undefined)
  if (family === 'JPEG') return whyNotJpeg(head, total)
  return 'not an image family iss stores'
}

/** True if the data (first bytes `head`, `totalBytes` in all) starts like an image of the family; see {@link whyNotFamily}. */
export function matchesFamily(head: Buffer, family: ImageFamily, totalBytes?: number): boolean {
  return whyNotFamily(head, family, totalBytes) === null
}

/** The family the bytes start like, or null. */
export function sniffFamily(head: Buffer, totalBytes?: number): ImageFamily | null {
  if (matchesFamily(head, 'PNG', totalBytes)) return 'PNG'
  if (matchesFamily(head, 'JPEG', totalBytes)) return 'JPEG'
  return null
}
