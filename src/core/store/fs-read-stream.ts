import {Readable} from 'node:stream'

import type {FileLease} from './fs-handle-cache.js'

/** Bytes per read: one read (one thread-pool trip) for any image up to this size. */
export const READ_CHUNK = 1024 * 1024

/**
 * The bytes `start` to `end` (exclusive) of a leased stored file, read with positional reads (no
 * file position is shared, so many readers use one cached handle at once). The lease is released
 * when the stream ends or is destroyed.
 */
export class LeasedFileStream extends Readable {
  private position: number

  constructor(
    private readonly lease: FileLease,
    start: number,
    private readonly end: number,
  ) {
    super({highWaterMark: READ_CHUNK})
    this.position = start
  }

  override _read(): void {
    const length = Math.min(READ_CHUNK, this.end - this.position)
    if (length <= 0) {
      this.push(null)
      return
    }

    const buffer = Buffer.allocUnsafe(length)
    this.lease.handle
      .read(buffer, 0, length, this.position)
      .then(({bytesRead}) => {
        if (!this.destroyed) this.took(buffer, length, bytesRead)
      })
      .catch((error: unknown) => {
        this.destroy(error as Error)
      })
  }

  private took(buffer: Buffer, length: number, bytesRead: number): void {
    if (bytesRead === 0) {
      // The file shrank under us: end early; the reply writer sees the short count.
      this.push(null)
      return
    }

    if (this.position === 0 && bytesRead === this.lease.size && this.lease.isWarm) this.lease.remember(buffer)
    this.position += bytesRead
    this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead))
    if (this.position >= this.end) this.push(null)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.lease.release()
    callback(error)
  }
}

/** Bytes already in memory, as a stream of one chunk. */
export class BytesStream extends Readable {
  constructor(
    private readonly lease: FileLease,
    private bytes: Buffer | null,
  ) {
    super({highWaterMark: READ_CHUNK})
  }

  override _read(): void {
    const {bytes} = this
    this.bytes = null
    if (bytes !== null && bytes.length > 0) this.push(bytes)
    this.push(null)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.lease.release()
    callback(error)
  }
}
