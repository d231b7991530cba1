/** Every frame starts with a 4-byte unsigned length of the pickle that follows. */
export const FRAME_HEADER_BYTES = 4

/** The byte order of a frame header. We send big-endian (network order) unless told otherwise. */
export type ByteOrder = 'big' | 'little'

/** The 4 header bytes for a pickle of `length` bytes. */
export function frameHeader(length: number, byteOrder: ByteOrder = 'big'): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  if (byteOrder === 'big') header.writeUInt32BE(length, 0)
  else header.writeUInt32LE(length, 0)
  return header
}

/** Header values whose bytes read b0 b1 b1 b0 are the same number in either byte order. */
const ORDER_FREE_BLOCK = 0x0100_0001
const ORDER_FREE_STEP = 0x0001_0100

/**
 * The smallest frame length >= `minimum` whose 4 header bytes read the same in both byte orders
 * (bytes b0 b1 b1 b0, e.g. 00 01 01 00 = 65,792): a peer that reads lengths in either order then
 * reads the right one. Such lengths are at most 65,792 apart. Throws a RangeError past 0xFFFFFFFF.
 */
export function orderFreeLength(minimum: number): number {
  const start = Math.max(minimum, ORDER_FREE_STEP)
  for (let b0 = Math.floor(start / 0x100_0000); b0 <= 0xff; b0++) {
    const base = b0 * ORDER_FREE_BLOCK
    const b1 = Math.max(0, Math.ceil((start - base) / ORDER_FREE_STEP))
    if (b1 <= 0xff) return base + b1 * ORDER_FREE_STEP
  }
  throw new RangeError(`no order-free frame length at or above ${minimum}`)
}
