import type {FileHandle} from 'node:fs/promises'
import {Writable} from 'node:stream'

import {errors, ErrorCode, IssError} from '../errors.js'
import {SNIFF_BYTES} from '../images/sniff.js'
import {writeAll} from '../write-all.js'
import type {Reservation} from './space-ledger.js'

/** How many leading bytes a sink keeps for content sniffing (a PNG's signature and IHDR chunk). */
export const HEAD_BYTES = SNIFF_BYTES

/**
 * Once an upload writes beyond its reservation, checks of the free-space floor come after half the
 * headroom left (so the floor is checked again before this upload alone could cross it), within
 * these bounds: a statfs per chunk would cost a thread-pool round trip per chunk on the write path;
 * at most 8 MiB keeps what many such uploads can write past the floor between checks small. ENOSPC
 * is caught on every write anyway.
 */
const MIN_CHECK_INTERVAL = 64 * 1024
const MAX_CHECK_INTERVAL = 8 * 1024 * 1024

/**
 * Bytes queued before write() asks the writer to wait. Large enough that the socket keeps reading
 * while one gathered write runs on the disk; it bounds an upload's memory (plus one socket chunk).
 */
export const SINK_HIGH_WATER_MARK = 2 * 1024 * 1024

/**
 * An upload announced at most this large is held in memory and written with one write when it ends,
 * instead of one write per socket chunk (a 100 KiB upload arrives in two or more): one thread-pool trip.
 * Below the high-water mark, so it holds no more than a streamed upload may queue.
 */
export const ONE_WRITE_MAX = 1024 * 1024
export interface TempFileSinkLimits {
  /** Largest upload; more fails with E_TOO_LARGE. */
  readonly maxSize?: number
  /** The space promised to this upload; writing beyond it needs headroom above the floor, or fails with E_NO_SPACE. */
  readonly reservation: Reservation
}

/**
 * A Writable over a temporary file's handle that counts bytes, keeps the head for sniffing, and
 * turns a full disk (ENOSPC, EDQUOT, or the min-free floor) into IssError E_NO_SPACE. It never
 * closes the handle: the upload that owns it does, after fsync or on discard.
 */
export class TempFileSink extends Writable {
  private written = 0
  /** The size up to which the bytes are known to fit: the reservation, then what the last check allowed. */
  private checkedUpTo: number
  private readonly headBuffer = Buffer.alloc(HEAD_BYTES)
  /** Chunks of a small upload not yet written (see ONE_WRITE_MAX), and their length. */
  private held: Buffer[] = []
  private heldBytes = 0
  private readonly isHolding: boolean

  constructor(
    private readonly handle: FileHandle,
    private readonly limits: TempFileSinkLimits,
  ) {
    super({highWaterMark: SINK_HIGH_WATER_MARK, decodeStrings: true})
    this.checkedUpTo = limits.reservation.bytes
    this.isHolding = limits.reservation.bytes > 0 && limits.reservation.bytes <= ONE_WRITE_MAX
  }

  /** Keeps `chunks` for the one write at the end, if the upload is small and stays so; false otherwise. */
  private hold(chunks: Buffer[]): boolean {
    if (!this.isHolding) return false
    let total = this.written + this.heldBytes
    for (const chunk of chunks) total += chunk.length
    const {maxSize} = this.limits
    if (total > ONE_WRITE_MAX || (maxSize !== undefined && total > maxSize)) return false
    for (const chunk of chunks) {
      const at = this.written + this.heldBytes
      if (at < HEAD_BYTES) chunk.copy(this.headBuffer, at, 0, HEAD_BYTES - at)
      this.held.push(chunk)
      this.heldBytes += chunk.length
    }

    return true
  }

  /** The held chunks, then `chunks`, as one list to write; nothing is held afterwards. */
  private release(chunks: Buffer[]): Buffer[] {
    if (this.heldBytes === 0) return chunks
    const all = [...this.held, ...chunks]
    this.held = []
    this.heldBytes = 0
    return all
  }

  /** Writes `chunks` (one gathered write, no copy) after the size check, then checks the free-space floor when due. */
  private async store(chunks: Buffer[]): Promise<void> {
    let total = 0
    for (const chunk of chunks) total += chunk.length
    const after = this.written + total
    if (this.limits.maxSize !== undefined && after > this.limits.maxSize) {
      throw errors.tooLarge('Image', after, this.limits.maxSize)
    }

    if (after > this.checkedUpTo) await this.checkSpace(after)
    const done = {bytes: 0}
    try {
      await writeAll(this.handle, chunks, done)
    } catch (error) {
      this.limits.reservation.used = this.written + done.bytes
      throw asStoreError(error, this.written + done.bytes)
    }

    for (let at = this.written, index = 0; at < HEAD_BYTES && index < chunks.length; index++) {
      at += chunks[index].copy(this.headBuffer, at, 0, HEAD_BYTES - at)
    }

    this.written = after
    this.limits.reservation.used = after
  }

  /** What is written so far, plus what a small upload holds for its one write. */
  private get received(): number {
    return this.written + this.heldBytes
  }

  /**
   * Before writing up to `after` bytes beyond what is known to fit: the headroom counts this upload's
   * own unwritten reservation as taken, so what must fit is everything from what is written now.
   */
  private async checkSpace(after: number): Promise<void> {
    const margin =
      (await this.limits.reservation.headroom()) - (after - Math.max(this.written, this.limits.reservation.bytes))
    if (margin < 0) throw errors.noSpace(after, this.limits.reservation.minFree)
    this.checkedUpTo = after + Math.min(MAX_CHECK_INTERVAL, Math.max(MIN_CHECK_INTERVAL, Math.floor(margin / 2)))
  }

  /** Bytes taken so far (a small upload's are written when it ends). */
  get bytesWritten(): number {
    return this.received
  }

  head(): Buffer {
    return Buffer.from(this.headBuffer.subarray(0, Math.min(this.received, HEAD_BYTES)))
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.hold([chunk])) {
      callback()
      return
    }

    void settle(this.store(this.release([chunk])), callback)
  }

  override _writev(
    chunks: Array<{chunk: Buffer; encoding: BufferEncoding}>,
    callback: (error?: Error | null) => void,
  ): void {
    const buffers = chunks.map((c) => c.chunk)
    if (this.hold(buffers)) {
      callback()
      return
    }

    void settle(this.store(this.release(buffers)), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.heldBytes === 0) {
      callback()
      return
    }

    void settle(this.store(this.release([])), callback)
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

/**
 * A filesystem error the peer can act on as its catalogue error: a full disk (ENOSPC, EDQUOT) as
 * E_NO_SPACE, a read-only store (EROFS) as E_READ_ONLY; anything else unchanged.
 */
export function asStoreError(error: unknown, bytes: number): unknown {
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

  if (code === 'EROFS') return errors.readOnly({cause: error})
  return error
}
