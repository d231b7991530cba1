import type {Logger} from 'pino'
import type Sharp from 'sharp'

import type {ImageStore, StoredImage} from '../store/store.js'
import {ThumbnailCache, type ThumbnailFacts} from './thumbnail-cache.js'

/** Limits of thumbnail making. Sizes in bytes and pixels. */
export interface ThumbnailLimits {
  /** Thumbnails made at once (each decodes in libuv's thread pool, off the event loop). */
  readonly concurrency: number
  /** Images waiting for a thumbnail at most; later ones are made on first request instead. */
  readonly maxQueued: number
  /** Largest image read for a thumbnail (it is held in memory while decoded); larger ones get the placeholder. */
  readonly maxInputBytes: number
  /** sharp's limitInputPixels: a decompression bomb (a small file of huge width x height) is refused before decoding. */
  readonly maxInputPixels: number
  /** Longest side of a thumbnail. */
  readonly edge: number
}

export const DEFAULT_THUMBNAIL_LIMITS: ThumbnailLimits = {
  concurrency: 2,
  maxQueued: 10_000,
  maxInputBytes: 64 * 1024 * 1024,
  maxInputPixels: 64 * 1024 * 1024,
  edge: 320,
}

interface Job {
  readonly image: StoredImage
  readonly done: Promise<ThumbnailFacts>
  readonly settle: (facts: ThumbnailFacts) => void
}

/**
 * Makes thumbnails with sharp (libvips) in the background after publish, a bounded number at a time,
 * and on demand when one is missing from the cache. An image that does not decode (corrupt, over the
 * pixel limit) gets the placeholder and one warning in the log; nothing it contains can crash the server.
 */
export class Thumbnailer {
  private readonly queue: Job[] = []
  private readonly jobs = new Map<string, Job>()
  private running = 0
  private sharp: typeof Sharp | null = null

  constructor(
    private readonly store: ImageStore,
    readonly cache: ThumbnailCache,
    private readonly logger: Logger,
    private readonly limits: ThumbnailLimits = DEFAULT_THUMBNAIL_LIMITS,
    /** Called once a thumbnail (or placeholder) is ready, e.g. to tell open pages. */
    private readonly onReady?: (image: StoredImage, facts: ThumbnailFacts) => void,
  ) {}

  /** Queues a thumbnail for a newly published image; dropped (made on first request instead) when the queue is full. */
  schedule(image: StoredImage): void {
    if (this.jobs.has(ThumbnailCache.keyOf(image))) return
    if (this.queue.length >= this.limits.maxQueued) return
    this.enqueue(image, false)
  }

  /** The facts of an image's thumbnail, making it now (ahead of the background queue) if it is missing. */
  async ensure(image: StoredImage): Promise<ThumbnailFacts> {
    const known = await this.cache.facts(image)
    if (known !== null) return known
    return this.enqueue(image, true).done
  }

  /** Waits until nothing is queued or being made (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0) await Promise.all([...this.jobs.values()].map(async (job) => job.done))
  }

  private enqueue(image: StoredImage, urgent: boolean): Job {
    const key = ThumbnailCache.keyOf(image)
    const existing = this.jobs.get(key)
    if (existing !== undefined) return existing
    let settle!: (facts: ThumbnailFacts) => void
    // eslint-disable-next-line unicorn/prefer-promise-with-resolvers -- the compile target (ES2022) has no Promise.withResolvers
    const done = new Promise<ThumbnailFacts>((resolve) => {
      settle = resolve
    })
    const job: Job = {image, done, settle}
    this.jobs.set(key, job)
    if (urgent) this.queue.unshift(job)
    else this.queue.push(job)
    this.pump()
    return job
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!
      this.running++
      void this.run(job).finally(() => {
        this.running--
        this.jobs.delete(ThumbnailCache.keyOf(job.image))
        this.pump()
      })
    }
  }

  private async run(job: Job): Promise<void> {
    const {image} = job
    let facts: ThumbnailFacts
    try {
      facts = await this.make(image)
    } catch (error) {
      job.settle({width: null, height: null, placeholder: true})
      // Deleted while waiting: nothing to make, nothing to say.
      if ((error as {code?: unknown}).code === 'E_NOT_FOUND') return
      // The cache folder itself failed (disk full): answer with the placeholder, try again next time.
      this.logger.warn({image: image.name, err: (error as Error).message}, 'thumbnail could not be saved')
      return
    }

    job.settle(facts)
    this.onReady?.(image, facts)
  }

  private async make(image: StoredImage): Promise<ThumbnailFacts> {
    if (image.size > this.limits.maxInputBytes) {
      const facts = {width: null, height: null, placeholder: true}
      this.logger.info({image: image.name, size: image.size}, 'image too large for a thumbnail; placeholder used')
      await this.cache.save(image, null, facts)
      return facts
    }

    const sharp = this.loadSharp()
    let width: number | null = null
    let height: number | null = null
    try {
      const bytes = await this.read(image)
      const options = {limitInputPixels: this.limits.maxInputPixels, failOn: 'error' as const}
      // The header alone (no pixel is decoded), so that even a refused bomb's size is known.
      const metadata = await sharp(bytes, {limitInputPixels: false}).metadata()
      width = metadata.width ?? null
      height = metadata.height ?? null
      const thumbnail = await sharp(bytes, options)
        .rotate()
        .resize(this.limits.edge, this.limits.edge, {fit: 'inside', withoutEnlargement: true})
        .webp({quality: 75})
        .toBuffer()
      const facts = {width, height, placeholder: false}
      await this.cache.save(image, thumbnail, facts)
      return facts
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'E_NOT_FOUND') throw error
      this.logger.warn(
        {image: image.name, err: (error as Error).message},
        'image cannot be decoded for a thumbnail; placeholder used',
      )
      const facts = {width, height, placeholder: true}
      await this.cache.save(image, null, facts)
      return facts
    }
  }

  /** The image's bytes, at most maxInputBytes of them (held while sharp decodes them). */
  private async read(image: StoredImage): Promise<Buffer> {
    const {stream} = await this.store.openRead(image.name)
    const chunks: Buffer[] = []
    let total = 0
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > this.limits.maxInputBytes) {
        stream.destroy()
        throw new Error(`over ${this.limits.maxInputBytes} bytes`)
      }

      chunks.push(chunk)
    }

    return Buffer.concat(chunks, total)
  }

  /** sharp (a native module) is loaded only when the first thumbnail is made. */
  private loadSharp(): typeof Sharp {
    if (this.sharp === null) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native module, loaded only by a server with --http
      this.sharp = require('sharp') as typeof Sharp
      this.sharp.concurrency(1)
      this.sharp.cache(false)
    }

    return this.sharp
  }
}
