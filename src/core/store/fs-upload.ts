import {type FileHandle, unlink} from 'node:fs/promises'
import {finished} from 'node:stream/promises'

import {validateImageName} from '../images/names.js'
import {errors, ErrorCode, IssError} from '../errors.js'
import type {CommitExpectation, StoredImage, Upload} from './store.js'
import {asStoreError, TempFileSink, type TempFileSinkLimits} from './temp-file-sink.js'

/** What an upload needs from its store to publish a complete, durable temporary file. */
export interface UploadPublisher {
  readonly fsync: boolean
  /**
   * Publishes `tempPath` under the validated `name` without replacing anything; removes `tempPath` on
   * success. `sha256`: the bytes' digest, computed by whoever fed the sink, to keep with the image.
   */
  publish(tempPath: string, name: string, size: number, modifiedMs: number, sha256?: string): Promise<StoredImage>
  /** The upload is finished (committed or discarded): the store lets go of it and of its reservation. */
  forget(upload: FsUpload): void
}

/** For promises whose failure changes nothing. */
function ignore(): undefined {
  return undefined
}

/** An upload into a temporary file of a {@link FsStore}; see {@link Upload}. */
export class FsUpload implements Upload {
  private state: 'open' | 'committing' | 'done' = 'open'
  private failure: Error | null = null
  private commitment: Promise<StoredImage> | null = null
  private discarding: Promise<void> | null = null
  private handleClosed = false
  readonly sink: TempFileSink

  constructor(
    private readonly handle: FileHandle,
    readonly tempPath: string,
    private readonly limits: TempFileSinkLimits,
    private readonly publisher: UploadPublisher,
  ) {
    this.sink = new TempFileSink(handle, limits)
    // Keep the error for commit(), and free the disk at once: a full disk must not stay full
    // while the server writes its answer. Listening also keeps an unhandled 'error' from crashing.
    this.sink.on('error', (error) => {
      this.failure ??= error
      if (this.state === 'open') void this.discard()
    })
  }

  private async publish(name: string, sha256?: string): Promise<StoredImage> {
    try {
      const stored = validateImageName(name)
      if (this.failure === null && !this.sink.writableEnded && !this.sink.destroyed) this.sink.end()
      if (this.failure === null)
        await finished(this.sink).catch((error: unknown) => {
          this.failure ??= error as Error
        })
      if (this.failure !== null) throw this.failure
      // Every byte is on disk now: what was announced beyond them is free for other uploads again.
      this.limits.reservation.shrinkToUsed()
      if (this.sink.bytesWritten === 0) throw errors.empty(stored)
      let stats
      try {
        // fdatasync: the bytes and the size, which is all a reader needs; the directory entry is made
        // durable by the store's directory fsync. Both thread-pool trips run side by side.
        ;[stats] = await Promise.all([this.handle.stat(), this.publisher.fsync ? this.handle.datasync() : undefined])
      } catch (error) {
        await this.closeHandle()
        throw asStoreError(error, this.sink.bytesWritten)
      }

      // The handle closes while the name is published: nothing reads or writes through it any more.
      const closing = this.closeHandle()
      try {
        return await this.publisher.publish(this.tempPath, stored, stats.size, stats.mtimeMs, sha256)
      } finally {
        await closing
      }
    } catch (error) {
      await this.discard()
      throw error
    } finally {
      this.state = 'done'
      this.finish()
    }
  }

  /** Throws the data away: idempotent, never throws. */
  private async discard(): Promise<void> {
    this.discarding ??= (async () => {
      this.sink.destroy()
      await this.closeHandle()
      await unlink(this.tempPath).catch(ignore)
      this.finish()
    })()
    return this.discarding
  }

  private finish(): void {
    this.limits.reservation.release()
    this.publisher.forget(this)
  }

  private async closeHandle(): Promise<void> {
    if (this.handleClosed) return
    this.handleClosed = true
    // close() waits for writes still in flight on the handle.
    await this.handle.close().catch(ignore)
  }

  get bytesWritten(): number {
    return this.sink.bytesWritten
  }

  head(): Buffer {
    return this.sink.head()
  }

  /** `expect.sha256` is taken as the bytes' digest (a {@link DigestingUpload} in front computed and checked it). */
  async commit(name: string, expect?: CommitExpectation): Promise<StoredImage> {
    if (this.state !== 'open') {
      throw new IssError(ErrorCode.INTERNAL, 'This upload is already finished')
    }

    this.state = 'committing'
    this.commitment = this.publish(name, expect?.sha256)
    return this.commitment
  }

  async abort(): Promise<void> {
    if (this.state === 'committing') {
      await this.commitment?.catch(ignore)
      return
    }

    this.state = 'done'
    await this.discard()
  }
}
