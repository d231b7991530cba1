import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3'
import {randomUUID} from 'node:crypto'
import {Readable} from 'node:stream'
import type {Logger} from 'pino'

import {errors, ErrorCode, IssError} from '../../errors.js'
import {identityKey, validateImageName} from '../../images/names.js'
import type {ImageStore, ListOptions, OpenedImage, ReadRange, StoredImage} from '../store.js'
import {BlobSink, partSizeFor} from './blob-sink.js'
import {describeS3Error, isConditionFailed, isNotFound, statusOf} from './client.js'
import {type Claim, decodeClaim, encodeClaim, KeyLayout, MAX_CLAIM_BYTES} from './layout.js'
import {probeConditionalWrites} from './probe.js'
import {S3Upload} from './s3-upload.js'
import {sweepOrphans} from './sweep.js'

/** An image as the s3: store knows it: with its SHA-256, which every claim holds. */
export interface S3StoredImage extends StoredImage {
  readonly sha256: string
}

export interface S3StoreOptions {
  readonly client: S3Client
  readonly bucket: string
  /** Path inside the bucket without leading or trailing '/', or ''. */
  readonly prefix: string
  /** For start-up output and refusals: the custom endpoint, or "AWS <region>". */
  readonly where: string
  /** Orphan blobs and multipart uploads older than this are removed; an upload may take half of it. */
  readonly graceMs: number
  /** Time between sweeps (default: half the grace period, within 1 s and 15 min). */
  readonly sweepIntervalMs?: number
  readonly maxSize?: number
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>
  /** Release the client's sockets at close (default true). */
  readonly ownsClient?: boolean
}

/** Claim bodies read at once while listing. */
const CLAIM_READS_IN_FLIGHT = 16
/** Claims remembered by key and ETag (a claim never changes: a new one has another blob, so another ETag). */
const CLAIM_CACHE_ENTRIES = 100_000

/**
 * Images in an S3 bucket, shared by any number of servers: bytes in blobs, names as conditional
 * claims (see {@link KeyLayout}). One winner per name comes from the object store's If-None-Match,
 * checked at open by a probe; nothing is visible under a name before its claim, which is written
 * only once the blob is complete.
 */
export class S3Store implements ImageStore {
  private readonly layout: KeyLayout
  private readonly uploads = new Set<S3Upload>()
  private readonly claimCache = new Map<string, {etag: string; claim: Claim}>()
  private opened = false
  private timer: NodeJS.Timeout | null = null
  private sweeping: Promise<void> | null = null

  constructor(private readonly options: S3StoreOptions) {
    this.layout = new KeyLayout(options.prefix)
  }

  describe(): string {
    const path = this.options.prefix === '' ? this.options.bucket : `${this.options.bucket}/${this.options.prefix}`
    return `s3://${path} at ${this.options.where}`
  }

  async open(): Promise<void> {
    if (this.opened) return
    await this.ensureBucket()
    const why = await probeConditionalWrites(this.options.client, this.options.bucket, this.layout.probes)
    if (why !== null) {
      throw new Error(
        `the object store at ${this.options.where} cannot keep one image per name: ${why}. ` +
          'iss needs atomic conditional writes (If-None-Match: *), as AWS S3, Ceph RGW and MinIO give',
      )
    }

    this.opened = true
    const interval =
      this.options.sweepIntervalMs ?? Math.min(15 * 60_000, Math.max(1000, Math.floor(this.options.graceMs / 2)))
    this.timer = setInterval(() => {
      void this.sweep()
    }, interval)
    this.timer.unref()
    void this.sweep()
  }

  private async ensureBucket(): Promise<void> {
    const {client, bucket, where} = this.options
    try {
      await client.send(new HeadBucketCommand({Bucket: bucket}))
      return
    } catch (error) {
      if (!isNotFound(error)) {
        throw new Error(`cannot reach bucket ${bucket} at ${where}: ${describeS3Error(error)}`, {cause: error})
      }
    }

    try {
      await client.send(new CreateBucketCommand({Bucket: bucket}))
      this.options.logger.info({bucket}, `created bucket ${bucket} at ${where}`)
    } catch (error) {
      const name = (error as {name?: string}).name
      // Another server created it at the same moment.
      if (name === 'BucketAlreadyOwnedByYou') return
      throw new Error(`cannot create bucket ${bucket} at ${where}: ${describeS3Error(error)}`, {cause: error})
    }
  }

  /** One sweep at a time per server; failures are logged and retried at the next interval. */
  async sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const result = await sweepOrphans({
          client: this.options.client,
          bucket: this.options.bucket,
          layout: this.layout,
          graceMs: this.options.graceMs,
          claims: () => this.allClaims(),
        })
        if (result.blobsDeleted + result.uploadsAborted + result.pinsDeleted > 0) {
          this.options.logger.info({...result}, 'swept orphan blobs and stale multipart uploads')
        }
      } catch (error) {
        this.options.logger.warn({err: describeS3Error(error)}, 'the orphan sweep failed; it runs again later')
      } finally {
        this.sweeping = null
      }
    })()
    return this.sweeping
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.opened = false
    await Promise.all([...this.uploads].map(async (upload) => upload.abort()))
    await this.sweeping?.catch(() => undefined)
    if (this.options.ownsClient ?? true) this.options.client.destroy()
  }

  private ensureOpen(): void {
    if (!this.opened) throw new IssError(ErrorCode.INTERNAL, `The store ${this.describe()} is not open`)
  }

  async beginUpload(name: string, sizeHint: number): Promise<S3Upload> {
    this.ensureOpen()
    const stored = validateImageName(name)
    // An early answer for the common duplicate; the claim at commit is what decides.
    const existing = await this.readClaim(this.layout.nameKey(stored))
    if (existing !== null) throw errors.duplicate(existing.name)
    return this.startUpload(sizeHint)
  }

  async spool(sizeHint?: number): Promise<S3Upload> {
    this.ensureOpen()
    return this.startUpload(sizeHint ?? this.options.maxSize ?? 0)
  }

  private startUpload(sizeHint: number): S3Upload {
    const {maxSize} = this.options
    if (maxSize !== undefined && sizeHint > maxSize) throw errors.tooLarge('Image', sizeHint, maxSize)
    const sink = new BlobSink({
      client: this.options.client,
      bucket: this.options.bucket,
      key: `${this.layout.blobs}${randomUUID()}`,
      partSize: partSizeFor(sizeHint),
      maxSize,
      deadline: Date.now() + Math.floor(this.options.graceMs / 2),
    })
    const upload = new S3Upload(sink, {
      claim: async (claim) => this.claimForUpload(claim),
      forget: (finished) => this.uploads.delete(finished),
    })
    this.uploads.add(upload)
    return upload
  }

  /** The name is claimed only once its blob is complete; the blob is checked again after the claim. */
  private async claimForUpload(claim: Claim): Promise<S3StoredImage> {
    const key = this.layout.nameKey(claim.name)
    await this.putClaim(key, claim)
    if (!(await this.blobExists(claim.blob))) {
      this.options.logger.error(
        {name: claim.name, blob: claim.blob},
        'the blob of a new claim is gone (removed by a sweep: is a clock far off, or the grace period too short?)',
      )
      throw errors.internal()
    }

    return imageOf(claim)
  }

  /** Creates a claim that replaces nothing: E_DUPLICATE when the identity is claimed. */
  private async putClaim(key: string, claim: Claim): Promise<void> {
    try {
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: encodeClaim(claim),
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      )
    } catch (error) {
      if (isConditionFailed(error)) throw errors.duplicate(claim.name)
      throw error
    }
  }

  private async blobExists(blob: string): Promise<boolean> {
    try {
      await this.options.client.send(new HeadObjectCommand({Bucket: this.options.bucket, Key: blob}))
      return true
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }

  /** The claim under `key`, or null when there is none (or it is not a claim of ours: logged). */
  private async readClaim(key: string): Promise<Claim | null> {
    let answer
    try {
      answer = await this.options.client.send(new GetObjectCommand({Bucket: this.options.bucket, Key: key}))
    } catch (error) {
      if (isNotFound(error)) return null
      throw error
    }

    const claim = await this.decodeBody(key, answer.Body as Readable | undefined, answer.ContentLength)
    if (claim !== null && answer.ETag !== undefined) this.remember(key, answer.ETag, claim)
    return claim
  }

  private async decodeBody(key: string, body: Readable | undefined, length: number | undefined): Promise<Claim | null> {
    if (body === undefined) return null
    if (length === undefined || length > MAX_CLAIM_BYTES) {
      body.destroy()
      this.options.logger.warn({key}, 'a name key holds something other than a claim; that name is not served')
      return null
    }

    const chunks: Buffer[] = []
    for await (const chunk of body) chunks.push(chunk as Buffer)
    const claim = decodeClaim(Buffer.concat(chunks).toString('utf8'), this.layout.blobs)
    if (claim === null) {
      this.options.logger.warn({key}, 'a name key holds something other than a claim; that name is not served')
    }

    return claim
  }

  private remember(key: string, etag: string, claim: Claim): void {
    this.claimCache.delete(key)
    this.claimCache.set(key, {etag, claim})
    if (this.claimCache.size > CLAIM_CACHE_ENTRIES) {
      this.claimCache.delete(this.claimCache.keys().next().value!)
    }
  }

  /** A listed claim: from the cache when its ETag is known, else read (null if deleted meanwhile). */
  private async listedClaim(key: string, etag: string | undefined): Promise<Claim | null> {
    const cached = this.claimCache.get(key)
    if (cached !== undefined && etag !== undefined && cached.etag === etag) return cached.claim
    return this.readClaim(key)
  }

  /**
   * One page of claims in key order (identity key order), starting after `startAfter` (a full key).
   * Returns the claims and the last key listed, or null at the end.
   */
  private async claimPage(
    startAfter: string | undefined,
    maxKeys: number,
  ): Promise<{claims: Claim[]; last: string | null}> {
    const page = await this.options.client.send(
      new ListObjectsV2Command({
        Bucket: this.options.bucket,
        Prefix: this.layout.names,
        StartAfter: startAfter,
        MaxKeys: maxKeys,
      }),
    )
    const entries = (page.Contents ?? []).filter((entry) => entry.Key !== undefined)
    const claims = await mapLimit(entries, CLAIM_READS_IN_FLIGHT, async (entry) =>
      this.listedClaim(entry.Key!, entry.ETag),
    )
    const last = page.IsTruncated && entries.length > 0 ? entries.at(-1)!.Key! : null
    return {claims: claims.filter((claim): claim is Claim => claim !== null), last}
  }

  private async *allClaims(): AsyncGenerator<Claim> {
    let after: string | undefined
    do {
      const {claims, last} = await this.claimPage(after, 1000)
      yield* claims
      after = last ?? undefined
    } while (after !== undefined)
  }

  async list(options: ListOptions = {}): Promise<readonly S3StoredImage[]> {
    this.ensureOpen()
    const limit = options.limit ?? Infinity
    const images: S3StoredImage[] = []
    let after = options.after === undefined ? undefined : this.layout.nameKeyOfIdentity(options.after)
    while (images.length < limit) {
      const {claims, last} = await this.claimPage(after, Math.min(1000, limit - images.length))
      images.push(...claims.map(imageOf))
      if (last === null) break
      after = last
    }

    return images
  }

  async stat(name: string): Promise<S3StoredImage | null> {
    this.ensureOpen()
    const claim = await this.readClaim(this.layout.nameKey(name))
    return claim === null ? null : imageOf(claim)
  }

  /**
   * Streams an image's blob, whole or from `range.offset` (`range.length` bytes, or to the end);
   * `image.size` is always the whole size. E_NOT_FOUND when no claim has the name, or when its blob
   * is missing (logged as an error: it is never repaired, since a repair could race a newer claim).
   */
  async openRead(name: string, range?: ReadRange): Promise<OpenedImage & {image: S3StoredImage}> {
    this.ensureOpen()
    const claim = await this.readClaim(this.layout.nameKey(name))
    if (claim === null) throw errors.notFound(name)
    const image = imageOf(claim)
    const start = Math.min(range?.offset ?? 0, claim.size)
    const end = range?.length === undefined ? claim.size : Math.min(claim.size, start + range.length)
    if (end <= start) return {image, stream: Readable.from([]), offset: start}
    let answer
    try {
      answer = await this.options.client.send(
        new GetObjectCommand({
          Bucket: this.options.bucket,
          Key: claim.blob,
          Range: start === 0 && end === claim.size ? undefined : `bytes=${start}-${end - 1}`,
        }),
      )
    } catch (error) {
      if (!isNotFound(error) && statusOf(error) !== 416) throw error
      this.options.logger.error(
        {name: claim.name, blob: claim.blob},
        'a claim points at a missing blob; answering E_NOT_FOUND (delete the name to clear it)',
      )
      throw errors.notFound(name)
    }

    return {image, stream: answer.Body as Readable, offset: start}
  }

  async delete(name: string): Promise<S3StoredImage> {
    this.ensureOpen()
    const key = this.layout.nameKey(name)
    const claim = await this.readClaim(key)
    if (claim === null) throw errors.notFound(name)
    // Only the claim goes: the blob stays until a sweep finds no claim pointing at it.
    await this.options.client.send(new DeleteObjectCommand({Bucket: this.options.bucket, Key: key}))
    this.claimCache.delete(key)
    return imageOf(claim)
  }

  /**
   * Claims `to` for the same blob, then releases `from`; never replaces (E_DUPLICATE when `to`'s
   * identity is claimed, including a change of case only). A pin keeps the sweep off the blob while
   * its claim moves.
   */
  async rename(from: string, to: string): Promise<S3StoredImage> {
    this.ensureOpen()
    const target = validateImageName(to)
    const fromKey = this.layout.nameKey(from)
    const claim = await this.readClaim(fromKey)
    if (claim === null) throw errors.notFound(from)
    if (identityKey(target) === identityKey(claim.name)) throw errors.duplicate(claim.name)
    const {client, bucket} = this.options
    await client.send(
      new PutObjectCommand({Bucket: bucket, Key: this.layout.pinKey(claim.blob), Body: '', ContentLength: 0}),
    )
    const moved: Claim = {...claim, name: target}
    await this.putClaim(this.layout.nameKey(target), moved)
    await client.send(new DeleteObjectCommand({Bucket: bucket, Key: fromKey}))
    this.claimCache.delete(fromKey)
    return imageOf(moved)
  }
}

function imageOf(claim: Claim): S3StoredImage {
  return Object.freeze({name: claim.name, size: claim.size, modifiedMs: claim.modifiedMs, sha256: claim.sha256})
}

/** `work` over `items`, at most `limit` at once, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = Array.from<R>({length: items.length})
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++

      results[index] = await work(items[index])
    }
  }

  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker))
  return results
}
