import type {Readable} from 'node:stream'

import {errors} from '../errors.js'
import {familyOf, validateImageName} from './names.js'
import {SNIFF_BYTES, whyNotFamily} from './sniff.js'

/** Bytes being uploaded, as an `Upload` offers them: the first bytes and how many there are in all. */
export interface UploadedContent {
  /** The first bytes (up to 33). */
  head(): Buffer
  readonly bytesWritten: number
}

/** A stored image opened for reading, as `ImageStore.openRead` returns it. */
export interface OpenedContent {
  readonly image: {readonly size: number}
  readonly stream: Readable
}

/**
 * Checks that the bytes are an image of the type the name's extension promises (`.png`: the PNG
 * signature and a valid IHDR chunk; `.jpg`/`.jpeg`: SOI and a complete first marker segment), so that
 * nothing is ever stored or renamed under a name its content contradicts. A handler calls it before
 * it gives bytes a name: before `upload.commit(name)` (pass the upload) and before
 * `store.rename(from, to)` (pass `await store.openRead(from)` and the new name; the stream is read
 * for at most 33 bytes, then destroyed).
 *
 * `content` is a Buffer (the whole data), an upload (`{head(), bytesWritten}`) or an opened image
 * (`{image: {size}, stream}`). Resolves to the name as validated (NFC).
 *
 * @throws {IssError} E_BAD_NAME or E_UNSUPPORTED_TYPE when `name` breaks the name rules;
 *   E_EMPTY when there are no bytes; E_CONTENT_MISMATCH when the bytes are not of the name's type.
 */
export async function assertContentMatchesName(
  name: string,
  content: Buffer | UploadedContent | OpenedContent,
): Promise<string> {
  const valid = validateImageName(name)
  // validateImageName refuses every name whose extension names no family.
  const family = familyOf(valid)!
  const {head, total} = await headOf(content)
  if (total === 0) throw errors.empty(valid)
  if (whyNotFamily(head, family, total) !== null) throw errors.contentMismatch(valid, family)
  return valid
}

async function headOf(content: Buffer | UploadedContent | OpenedContent): Promise<{head: Buffer; total: number}> {
  if (Buffer.isBuffer(content)) return {head: content.subarray(0, SNIFF_BYTES), total: content.length}
  if ('head' in content) return {head: content.head(), total: content.bytesWritten}
  return {head: await readHead(content.stream), total: content.image.size}
}

/** Up to SNIFF_BYTES from the start of the stream, which is destroyed afterwards (the caller only peeked). */
async function readHead(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  try {
    for await (const chunk of stream) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
      chunks.push(bytes)
      length += bytes.length
      if (length >= SNIFF_BYTES) break
    }
  } finally {
    stream.destroy()
  }

  return Buffer.concat(chunks).subarray(0, SNIFF_BYTES)
}
