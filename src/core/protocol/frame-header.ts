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
