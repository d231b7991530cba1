import {finished} from 'node:stream/promises'

import {errors, ErrorCode, IssError} from '../../errors.js'
import {validateImageName} from '../../images/names.js'
import type {CommitExpectation, StoredImage, Upload} from '../store.js'
import type {BlobSink} from './blob-sink.js'
import type {Claim} from './layout.js'

/** What an upload needs from its store once its blob is complete. */
export interface ClaimPublisher {
  /**
   * Claims the name for the blob (conditional PutObject), then checks the blob is still there.
   * Throws E_DUPLICATE when another claim holds the identity.
   */
  claim(claim: Claim): Promise<StoredImage>
  /** The upload is finished either way. */
  forget(upload: S3Upload): void
}

/** An upload into an s3: store: bytes stream into a fresh blob; commit claims the name. See {@link Upload}. */
export class S3Upload implements Upload {
  private state: 'open' | 'committing' | 'done' = 'open'
  private failure: Error | null = null
  private commitment: Promise<StoredImage> | null = null
  private discarding: Promise<void> | null = null
  /** Once the name is claimed, the blob belongs to the claim: nothing here may remove it. */
  private claimed = false

  constructor(
    readonly sink: BlobSink,
    private readonly publisher: ClaimPublisher,
  ) {
    // Keep the error for commit(); abort the multipart upload at once. Listening also keeps an
    // unhandled 'error' from crashing the server.
    sink.on('error', (error) => {
      this.failure ??= error
      if (this.state === 'open' && !this.claimed) void this.discard()
    })
  }

  get bytesWritten(): number {
    return this.sink.bytesWritten
  }

  head(): Buffer {
    return this.sink.head()
  }

  private async publish(name: string, expect?: CommitExpectation): Promise<StoredImage> {
    try {
      const stored = validateImageName(name)
      if (this.failure === null && !this.sink.writableEnded && !this.sink.destroyed) this.sink.end()
      if (this.failure === null) {
        await finished(this.sink).catch((error: unknown) => {
          this.failure ??= error as Error
        })
      }

      if (this.failure !== null) throw this.failure
      if (this.sink.bytesWritten === 0) throw errors.empty(stored)
      const digest = this.sink.sha256
      if (expect?.sha256 !== undefined && expect.sha256.toLowerCase() !== digest) {
        throw errors.digestMismatch(stored, expect.sha256.toLowerCase(), digest)
      }

      // A claim made after the deadline could point at a blob the sweep is about to remove.
      this.sink.checkDeadline()
      const image = await this.publisher.claim({
        blob: this.sink.key,
        name: stored,
        size: this.sink.bytesWritten,
        modifiedMs: Date.now(),
        sha256: digest,
      })
      this.claimed = true
      return image
    } catch (error) {
      if (!this.claimed) await this.discard()
      throw error
    } finally {
      this.state = 'done'
      this.publisher.forget(this)
    }
  }

  private async discard(): Promise<void> {
    this.discarding ??= this.sink.discard()
    return this.discarding
  }

  /** Claims `name` once the blob is complete; E_DIGEST_MISMATCH (nothing claimed) if `expect.sha256` differs. */
  async commit(name: string, expect?: CommitExpectation): Promise<StoredImage> {
    if (this.state !== 'open') throw new IssError(ErrorCode.INTERNAL, 'This upload is already finished')
    this.state = 'committing'
    this.commitment = this.publish(name, expect)
    return this.commitment
  }

  async abort(): Promise<void> {
    if (this.claimed) return
    if (this.state === 'committing') {
      await this.commitment?.catch(() => undefined)
      return
    }

    this.state = 'done'
    await this.discard()
    this.publisher.forget(this)
  }
}
