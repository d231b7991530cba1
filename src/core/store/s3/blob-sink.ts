import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import {createHash} from 'node:crypto'
import {Writable} from 'node:stream'

import {errors, ErrorCode, IssError} from '../../errors.js'
import {SNIFF_BYTES} from '../../images/sniff.js'

/** Smallest part: S3 wants at least 5 MiB for every part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024
/** S3 allows 10,000 parts; a little below leaves room for a size hint that was a lower bound. */
const MAX_PARTS = 9000
/** Parts uploading at once per upload. */
const PARTS_IN_FLIGHT = 1
/** Part buffers per upload (those uploading and the one filling): its memory is this x part size, whatever the image size. */
const PART_BUFFERS = PARTS_IN_FLIGHT + 1

/** The part size for an upload of at most `bytes`: 5 MiB, or more when 9,000 parts would not hold it. */
export function partSizeFor(bytes: number): number {
  const mib = 1024 * 1024
  return Math.max(MIN_PART_SIZE, Math.ceil(bytes / MAX_PARTS / mib) * mib)
}

export interface BlobSinkOptions {
  readonly client: S3Client
  readonly bucket: string
  readonly key: string
  readonly partSize: number
  /** Largest image in bytes; more fails with E_TOO_LARGE. */
  readonly maxSize?: number
  /** Date.now() after which the upload fails with E_TIMEOUT (half the sweep's grace period from its start). */
  readonly deadline: number
}

/**
 * A Writable that streams an image into one S3 object (the blob) while hashing it: an image smaller
 * than one part is one PutObject at the end; a larger one a multipart upload with at most
 * {@link PARTS_IN_FLIGHT} parts uploading, so memory stays bounded by the part size. Ending the
 * stream completes the object; {@link discard} removes whatever was stored.
 */
export class BlobSink extends Writable {
  private readonly hash = createHash('sha256')
  private written = 0
  private readonly headBuffer = Buffer.alloc(SNIFF_BYTES)
  /** Chunks of an image not yet a part long (maybe the whole image). */
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Past one part: bytes are copied into reused part buffers and sent as a multipart upload. */
  private multipart = false
  private filling: Buffer | null = null
  private filled = 0
  private readonly free: Buffer[] = []
  private allocated = 0
  private uploadId: string | null = null
  private partCount = 0
  private readonly parts: Array<{PartNumber: number; ETag?: string}> = []
  private readonly inFlight = new Set<Promise<void>>()
  private partFailure: Error | null = null
  private completed = false
  private digest: string | null = null

  constructor(private readonly options: BlobSinkOptions) {
    // A small queue: the part buffers are where bytes wait.
    super({highWaterMark: 256 * 1024, decodeStrings: true})
  }

  get bytesWritten(): number {
    return this.written
  }

  get key(): string {
    return this.options.key
  }

  head(): Buffer {
    return Buffer.from(this.headBuffer.subarray(0, Math.min(this.written, SNIFF_BYTES)))
  }

  /** Lowercase hex SHA-256 of every byte, once the stream has finished. */
  get sha256(): string {
    if (this.digest === null) throw new IssError(ErrorCode.INTERNAL, 'The blob is not complete yet')
    return this.digest
  }

  /** Fails the upload once it has run past its deadline. */
  checkDeadline(): void {
    if (Date.now() > this.options.deadline) {
      throw new IssError(
        ErrorCode.TIMEOUT,
        'Upload too slow: it took longer than half the store’s grace period (the sweep would remove it)',
      )
    }
  }

  private async accept(chunk: Buffer): Promise<void> {
    const after = this.written + chunk.length
    if (this.options.maxSize !== undefined && after > this.options.maxSize) {
      throw errors.tooLarge('Image', after, this.options.maxSize)
    }

    this.checkDeadline()
    if (this.written < SNIFF_BYTES) chunk.copy(this.headBuffer, this.written, 0, SNIFF_BYTES - this.written)
    this.hash.update(chunk)
    this.written = after
    if (this.multipart) {
      await this.copyIn(chunk)
      return
    }

    // Smaller than a part so far: the chunks wait as they came, and may end as one PutObject.
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    if (this.pendingBytes < this.options.partSize) return
    this.multipart = true
    const chunks = this.pending
    this.pending = []
    this.pendingBytes = 0
    for (const waiting of chunks) await this.copyIn(waiting)
  }

  /** Copies bytes into the part being filled, sending each part as it fills up. */
  private async copyIn(chunk: Buffer): Promise<void> {
    let at = 0
    while (at < chunk.length) {
      if (this.filling === null) {
        this.filling = await this.freeBuffer()
        this.filled = 0
      }

      const copied = chunk.copy(this.filling, this.filled, at)
      this.filled += copied
      at += copied
      if (this.filled === this.options.partSize) {
        const full = this.filling
        this.filling = null
        await this.sendPart(full, this.options.partSize)
      }
    }
  }

  /**
   * A part buffer: reused once its part is uploaded, so an upload's memory is a fixed
   * {@link PART_BUFFERS} x part size (no garbage per part for the collector to fall behind on).
   */
  private async freeBuffer(): Promise<Buffer> {
    while (this.free.length === 0 && this.allocated >= PART_BUFFERS) {
      if (this.inFlight.size === 0) throw new IssError(ErrorCode.INTERNAL, 'No part buffer comes free')
      await Promise.race(this.inFlight)
    }

    const reused = this.free.pop()
    if (reused !== undefined) return reused
    this.allocated++
    return Buffer.allocUnsafe(this.options.partSize)
  }

  private async sendPart(buffer: Buffer, length: number): Promise<void> {
    const {client, bucket, key} = this.options
    if (this.uploadId === null) {
      const created = await client.send(new CreateMultipartUploadCommand({Bucket: bucket, Key: key}))
      if (!created.UploadId) throw new Error(`the object store started no multipart upload for ${key}`)
      this.uploadId = created.UploadId
    }

    while (this.inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inFlight)
    if (this.partFailure !== null) throw this.partFailure
    const number = ++this.partCount
    const upload = async () => {
      try {
        const answer = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: this.uploadId!,
            PartNumber: number,
            Body: buffer.subarray(0, length),
            ContentLength: length,
          }),
        )
        this.parts[number - 1] = {PartNumber: number, ETag: answer.ETag}
      } catch (error) {
        this.partFailure ??= error as Error
      } finally {
        this.free.push(buffer)
        this.inFlight.delete(sending)
      }
    }

    const sending = upload()
    this.inFlight.add(sending)
  }

  private async finish(): Promise<void> {
    const {client, bucket, key} = this.options
    if (this.multipart) {
      if (this.filling !== null && this.filled > 0) await this.sendPart(this.filling, this.filled)
      this.filling = null
      await Promise.all(this.inFlight)
      if (this.partFailure !== null) throw this.partFailure
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: this.uploadId!,
          MultipartUpload: {Parts: this.parts},
        }),
      )
    } else {
      const body = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      await client.send(new PutObjectCommand({Bucket: bucket, Key: key, Body: body, ContentLength: body.length}))
    }

    this.completed = true
    this.digest = this.hash.digest('hex')
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void settle(this.accept(chunk), callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    void settle(this.finish(), callback)
  }

  /** Removes what was stored: the multipart upload or the finished object. Never throws; idempotent. */
  async discard(): Promise<void> {
    this.destroy()
    await Promise.allSettled(this.inFlight)
    const {client, bucket, key} = this.options
    // What cannot be removed now (the store unreachable) the sweep removes after the grace period.
    if (this.completed) {
      await client.send(new DeleteObjectCommand({Bucket: bucket, Key: key})).catch(() => undefined)
    } else if (this.uploadId !== null) {
      const uploadId = this.uploadId
      this.uploadId = null
      await client
        .send(new AbortMultipartUploadCommand({Bucket: bucket, Key: key, UploadId: uploadId}))
        .catch(() => undefined)
    }
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
