import {createHash, type Hash} from 'node:crypto'
import {Writable} from 'node:stream'
import {finished} from 'node:stream/promises'

import {errors} from '../errors.js'
import {validateImageName} from '../images/names.js'
import type {CommitExpectation, StoredImage, Upload} from './store.js'

/** A SHA-256 as iss writes it on the wire and in stores: 64 lowercase hex digits. */
export const SHA256_PATTERN = /^[\da-f]{64}$/

/**
 * A Writable in front of another that hashes every chunk on its way through (the one read of the
 * bytes: nothing is read back from disk to hash). Backpressure is the inner sink's: a batch is
 * acknowledged when the inner sink has taken its last chunk, so the inner sink still gathers writes.
 */
class HashingSink extends Writable {
  readonly hash: Hash = createHash('sha256')

  constructor(private readonly inner: Writable) {
    super({highWaterMark: inner.writableHighWaterMark})
    inner.on('error', (error) => {
      if (!this.destroyed) this.destroy(error)
    })
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk)
    this.inner.write(chunk, callback)
  }

  override _writev(
    chunks: Array<{chunk: Buffer; encoding: BufferEncoding}>,
    callback: (error?: Error | null) => void,
  ): void {
    const last = chunks.length - 1
    for (const [index, {chunk}] of chunks.entries()) {
      this.hash.update(chunk)
      this.inner.write(chunk, index === last ? callback : undefined)
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.inner.end()
    finished(this.inner)
      .then(() => {
        callback()
      })
      .catch((error: unknown) => {
        callback(error as Error)
      })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.inner.destroyed && error !== null) this.inner.destroy(error)
    callback(error)
  }
}

/**
 * Wraps a backend's upload so that its bytes are hashed as they stream in. `commit(name, {sha256})`
 * then refuses a digest that differs from the client's (E_DIGEST_MISMATCH, the upload discarded,
 * nothing published) and otherwise commits the inner upload with `{sha256: <the computed digest>}`:
 * the inner upload receives the verified digest to keep with the image.
 */
export class DigestingUpload implements Upload {
  readonly sink: HashingSink
  private digest: string | null = null

  constructor(private readonly inner: Upload) {
    this.sink = new HashingSink(inner.sink)
    // The inner upload keeps the sink's failure for commit(); listening keeps an unheard 'error' from crashing.
    this.sink.on('error', () => undefined)
  }

  get bytesWritten(): number {
    return this.inner.bytesWritten
  }

  head(): Buffer {
    return this.inner.head()
  }

  /** The digest of every byte written, once the sink has finished (after `commit` began), else null. */
  get sha256(): string | null {
    return this.digest
  }

  async commit(name: string, expect?: CommitExpectation): Promise<StoredImage> {
    try {
      if (!this.sink.writableEnded && !this.sink.destroyed) this.sink.end()
      await finished(this.sink)
    } catch {
      // The inner upload holds the sink's failure (a full disk) and reports it from its commit.
      return this.inner.commit(name)
    }

    this.digest = this.sink.hash.digest('hex')
    if (expect?.sha256 !== undefined && expect.sha256.toLowerCase() !== this.digest) {
      await this.inner.abort()
      throw errors.digestMismatch(validateImageName(name), expect.sha256.toLowerCase(), this.digest)
    }

    return this.inner.commit(name, {sha256: this.digest})
  }

  async abort(): Promise<void> {
    this.sink.destroy()
    return this.inner.abort()
  }
}
