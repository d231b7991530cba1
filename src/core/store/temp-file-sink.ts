import type {FileHandle} from 'node:fs/promises'
import {Writable} from 'node:stream'

import {errors, ErrorCode, IssError} from '../protocol/errors.js'
import {freeBytes} from './disk-space.js'

/** How many leading bytes a sink keeps for content sniffing. */
export const HEAD_BYTES = 16

/** Bytes between two checks of the free-space floor while an upload of unknown size runs. */
export const FREE_SPACE_CHECK_INTERVAL = 1024 * 1024

const MAX_GATHER = 1024 * 1024

export interface TempFileSinkLimits {
  /** Largest upload; more fails with E_TOO_LARGE. */
  readonly maxSize?: number
  /** Bytes to keep free on the disk; less fails with E_NO_SPACE. */
  readonly minFree: number
  /** A path on the disk to watch. */
  readonly spacePath: string
}

/**
 * A Writable over a temporary file's handle that counts bytes, keeps the head for sniffing, and
 * turns a full disk (ENOSPC, EDQUOT, or the min-free floor) into IssError E_NO_SPACE. It never
 * closes the handle: the upload that owns it does, after fsync or on discard.
 */
export class TempFileSink extends Writable {
  private written = 0
  private sinceSpaceCheck = 0
  private readonly headBuffer = Buffer.alloc(HEAD_BYTES)

  constructor(
    private readonly handle: FileHandle,
    private readonly limits: TempFileSinkLimits,
  ) {
    super({highWaterMark: 256 * 1024, decodeStrings: true})
  }

  private async store(chunk: Buffer): Promise<void> {
    const after = this.written + chunk.length
    if (this.limits.maxSize !== undefined && after > this.limits.maxSize) {
      throw errors.tooLarge('Image', after, this.limits.maxSize)
    }

    let offset = 0
    try {
      while (offset < chunk.length) {
        const {bytesWritten} = await this.handle.write(chunk, offset, chunk.length - offset, null)
        offset += bytesWritten
      }
    } catch (error) {
      throw asNoSpace(error, this.written + offset)
    }

    if (this.written < HEAD_BYTES) chunk.copy(this.headBuffer, this.written, 0, HEAD_BYTES - this.written)
    this.written = after
    this.sinceSpaceCheck += chunk.length
    if (this.sinceSpaceCheck >= FREE_SPACE_CHECK_INTERVAL) {
      this.sinceSpaceCheck = 0
      if ((await freeBytes(this.limits.spacePath)) < this.limits.minFree) {
        throw errors.noSpace(this.written, this.limits.minFree)
      }
    }
  }

  /** One write call for what queued up while the previous one ran, unless copying it would double the memory. */
  private async storeAll(chunks: Buffer[]): Promise<void> {
    const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    if (total <= MAX_GATHER) return this.store(Buffer.concat(chunks, total))
    for (const chunk of chunks) await this.store(chunk)
  }

  get bytesWritten(): number {
    return this.written
  }

  head(): Buffer {
    return Buffer.from(this.headBuffer.subarray(0, Math.min(this.written, HEAD_BYTES)))
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void settle(this.store(chunk), callback)
  }

  override _writev(
    chunks: Array<{chunk: Buffer; encoding: BufferEncoding}>,
    callback: (error?: Error | null) => void,
  ): void {
    void settle(this.storeAll(chunks.map((c) => c.chunk)), callback)
  }
}

/** Calls a stream callback once with the outcome of `work`. */
async function settle(work: Promise<void>, callback: (error?: Error | null) => void): Promise<void> {
  let failure: Error | null = null
  try {
    await work
  } catch (error) {
    failure = error as Error
  }

  callback(failure)
}

/** A filesystem error that means "disk full" as IssError E_NO_SPACE; anything else unchanged. */
export function asNoSpace(error: unknown, bytes: number): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new IssError(
      ErrorCode.NO_SPACE,
      `Not enough disk space on server: the disk filled up after ${bytes} bytes`,
      {
        cause: error,
      },
    )
  }

  return error
}
