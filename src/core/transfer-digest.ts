import {createHash, type Hash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {Readable} from 'node:stream'

import type {PickleKey, PickleValue} from './protocol/values.js'
import type {FileDataSink} from './transport/client-connection.js'

/** 64 lowercase hex digits: a SHA-256 as the protocol carries it. */
const SHA256_HEX = /^[\da-f]{64}$/

/** What a trailing SHA256 stands in for until the data has gone out: the same encoded length. */
export const SHA256_PLACEHOLDER = '0'.repeat(64)

/** The SHA-256 of a whole file (lowercase hex), read once from disk. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024})) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** `stream`'s bytes unchanged, each chunk also fed to `hash` as it passes (the digest costs no second read). */
export function hashingStream(stream: Readable, hash: Hash): Readable {
  async function* pass(): AsyncGenerator<Buffer> {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer)
      yield chunk as Buffer
    }
  }

  return Readable.from(pass(), {objectMode: false})
}

/** A digest from a peer's answer: the value when it is 64 hex digits, else undefined (a seed server sends none). */
export function digestIn(keys: ReadonlyMap<PickleKey, PickleValue>): string | undefined {
  const value = keys.get('SHA256')
  return typeof value === 'string' && SHA256_HEX.test(value.toLowerCase()) ? value.toLowerCase() : undefined
}

/**
 * A download sink that hashes what it passes on, and learns the server's SHA256 from the answer's head
 * (encoded before FILE_DATA). `hash` may already hold bytes received earlier (a resumed download).
 */
export class VerifyingSink implements FileDataSink {
  /** The server's digest of the whole image, once the answer's head has arrived (undefined: it sent none). */
  expected: string | undefined
  /** The answer's head, for callers that need more of it (OFFSET). */
  head: ReadonlyMap<PickleKey, PickleValue> | undefined

  constructor(
    private readonly inner: FileDataSink,
    readonly hash: Hash = createHash('sha256'),
    private readonly onBegin?: (head: ReadonlyMap<PickleKey, PickleValue>, length: number) => void,
  ) {}

  begin(head: ReadonlyMap<PickleKey, PickleValue>, length: number): void {
    this.head = head
    this.expected = digestIn(head)
    this.onBegin?.(head, length)
  }

  write(chunk: Buffer): Promise<void> | void {
    this.hash.update(chunk)
    return this.inner.write(chunk)
  }

  /** The digest of everything written (call once, after the answer is complete). */
  actual(): string {
    return this.hash.digest('hex')
  }
}
