import type {ImageFamily} from './names.js'

/** How many leading bytes {@link matchesFamily} needs to decide (the PNG signature is the longest). */
export const SNIFF_BYTES = 8

/** PNG file signature (PNG spec, 5.2): \x89 P N G \r \n \x1a \n. */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
/** JPEG start of image (FF D8) followed by the first marker's FF. */
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff])

const SIGNATURES: Readonly<Record<ImageFamily, Buffer>> = {PNG: PNG_SIGNATURE, JPEG: JPEG_START}

/** True if `head` (the first bytes of the data) starts like the family; a head shorter than the signature is false. */
export function matchesFamily(head: Buffer, family: ImageFamily): boolean {
  const signature = SIGNATURES[family]
  if (signature === undefined) return false
  return head.length >= signature.length && head.subarray(0, signature.length).equals(signature)
}

/** The family the bytes start like, or null. */
export function sniffFamily(head: Buffer): ImageFamily | null {
  if (matchesFamily(head, 'PNG')) return 'PNG'
  if (matchesFamily(head, 'JPEG')) return 'JPEG'
  return null
}
