import type {ServerEventBus} from '../events.js'
import {simpleCaseFold} from '../images/case-fold.js'
import {identityKey} from '../images/names.js'
import type {ImageStore, StoredImage} from '../store/store.js'

/** The gallery's two orders. */
export type ImageOrder = 'newest' | 'name'

export interface PageQuery {
  readonly order: ImageOrder
  /** The cursor from the previous page's `next`, or undefined for the first page. */
  readonly after?: string
  readonly limit: number
  /** Only names containing this text (compared case-insensitively). */
  readonly filter?: string
}

export interface ImagePage {
  readonly images: readonly StoredImage[]
  /** The cursor of the next page, or null at the end. */
  readonly next: string | null
}

/** Store pages read while looking for filtered names by name order, at most, per request (bounds one request's work). */
const NAME_SCAN_BATCH = 1000
const MAX_NAME_SCAN = 100_000

function folded(text: string): string {
  return simpleCaseFold(text.normalize('NFC'))
}

/** Newest first; among equal times, by stored name. */
function newestFirst(a: StoredImage, b: StoredImage): number {
  if (a.modifiedMs !== b.modifiedMs) return b.modifiedMs - a.modifiedMs
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

/**
 * Pages of the store for the gallery, by name (the store's own identity-key order, read a page at a
 * time) or newest first (one sorted array of references to the store's listing, rebuilt after a
 * change, so a page costs a binary search). Cursors are opaque strings for clients.
 */
export class ImageListing {
  private byTime: StoredImage[] | null = null

  constructor(
    private readonly store: ImageStore,
    events: ServerEventBus,
  ) {
    const forget = () => {
      this.byTime = null
    }

    events.on('image.published', forget, 'gallery listing')
    events.on('image.deleted', forget, 'gallery listing')
    events.on('image.renamed', forget, 'gallery listing')
  }

  async page(query: PageQuery): Promise<ImagePage> {
    return query.order === 'name' ? this.byName(query) : this.newest(query)
  }

  private async byName(query: PageQuery): Promise<ImagePage> {
    const wanted = query.filter ? folded(query.filter) : null
    const images: StoredImage[] = []
    let after = query.after
    let scanned = 0
    while (images.length < query.limit && scanned < MAX_NAME_SCAN) {
      const batch = await this.store.list({
        after,
        limit: wanted === null ? query.limit - images.length : NAME_SCAN_BATCH,
      })
      if (batch.length === 0) return {images, next: null}
      for (const image of batch) {
        scanned++
        after = identityKey(image.name)
        if (wanted === null || folded(image.name).includes(wanted)) images.push(image)
        if (images.length === query.limit) break
      }
    }

    return {images, next: after ?? null}
  }

  private async newest(query: PageQuery): Promise<ImagePage> {
    this.byTime ??= [...(await this.store.list())].sort(newestFirst)
    const all = this.byTime
    const start = query.after === undefined ? 0 : this.positionAfter(all, query.after)
    const wanted = query.filter ? folded(query.filter) : null
    const images: StoredImage[] = []
    let index = start
    for (; index < all.length && images.length < query.limit && index - start < MAX_NAME_SCAN; index++) {
      const image = all[index]
      if (wanted === null || folded(image.name).includes(wanted)) images.push(image)
    }

    const last = all[index - 1]
    return {images, next: index < all.length && last !== undefined ? `${last.modifiedMs}/${last.name}` : null}
  }

  /** Index of the first image after the cursor `modifiedMs/name` in newest-first order. */
  private positionAfter(all: readonly StoredImage[], cursor: string): number {
    const slash = cursor.indexOf('/')
    const probe: StoredImage = {modifiedMs: Number(cursor.slice(0, slash)), name: cursor.slice(slash + 1), size: 0}
    if (slash === -1 || !Number.isFinite(probe.modifiedMs)) return 0
    let low = 0
    let high = all.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (newestFirst(all[middle], probe) <= 0) low = middle + 1
      else high = middle
    }

    return low
  }
}
