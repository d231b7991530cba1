// Writing data into a store's upload the way the server does (64 KiB chunks with backpressure).
import {randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {Upload} from '../../src/core/store/store.js'

/** `size` random bytes behind a PNG signature: enough for a store, which does not sniff. */
export function randomPng(size: number): Buffer {
  const data = randomBytes(size)
  Buffer.from('89504e470d0a1a0a', 'hex').copy(data)
  return data
}

/** Streams `data` into the upload's sink; resolves with the sink's error (a full disk), or null. */
export async function fill(upload: Upload, data: Buffer): Promise<unknown> {
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024))
  try {
    await pipeline(Readable.from(chunks), upload.sink)
    return null
  } catch (error) {
    return error
  }
}
