import {type Readable, Transform, type TransformCallback} from 'node:stream'

import {sniffFamily, SNIFF_BYTES} from '../images/sniff.js'

const TYPE_OF_FAMILY = {PNG: 'image/png', JPEG: 'image/jpeg'} as const

/**
 * Reads the first bytes of a stream without consuming them, and names its type from them (the
 * same sniffing as uploads): image/png, image/jpeg, or application/octet-stream.
 */
export async function sniffContentType(stream: Readable, size: number): Promise<string> {
  const chunks: Buffer[] = []
  let total = 0
  while (total < SNIFF_BYTES) {
    const chunk = stream.read() as Buffer | null
    if (chunk !== null) {
      chunks.push(chunk)
      total += chunk.length
      continue
    }

    if (stream.readableEnded || stream.destroyed) break
    const ended = await new Promise<boolean>((resolve, reject) => {
      const settle = (outcome: boolean | Error) => {
        stream.off('readable', onReadable)
        stream.off('end', onEnd)
        stream.off('error', settle)
        if (outcome instanceof Error) reject(outcome)
        else resolve(outcome)
      }

      const onReadable = () => settle(false)
      const onEnd = () => settle(true)
      stream.on('readable', onReadable)
      stream.on('end', onEnd)
      stream.on('error', settle)
    })
    if (ended) break
  }

  const head = Buffer.concat(chunks, total)
  if (head.length > 0) stream.unshift(head)
  const family = sniffFamily(head.subarray(0, SNIFF_BYTES), size)
  return family === null ? 'application/octet-stream' : TYPE_OF_FAMILY[family]
}

/** Passes on bytes `start` to `end` (inclusive) of what flows through, and ends after them. */
export class ByteSlice extends Transform {
  private position = 0
  private done = false

  constructor(
    private readonly start: number,
    private readonly last: number,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const from = this.position
    this.position += chunk.length
    if (!this.done) {
      const first = Math.max(this.start - from, 0)
      const last = Math.min(this.last + 1 - from, chunk.length)
      if (first < last) this.push(chunk.subarray(first, last))
      if (this.position > this.last) {
        this.done = true
        this.push(null)
      }
    }

    callback()
  }
}
