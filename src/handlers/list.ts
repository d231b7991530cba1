import {errors} from '../core/errors.js'
import type {CommandHandler, HandlerRequest, HandlerResponse} from '../core/handler.js'
import {identityKey} from '../core/images/names.js'
import type {StringList} from '../core/protocol/pickle-encoder.js'
import type {PickleValue} from '../core/protocol/values.js'
import type {ImageStore, StoredImage} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/** The DETAILS of a LIST on an empty store, a message as the seed describes. */
export const EMPTY_STORE_MESSAGE = 'No files on server'

/** The most names in one page, whatever LIMIT asks: at most 255 bytes each, a page stays under 2.6 MB. */
export const MAX_PAGE = 10_000

/** The most entries in one LONG page (a dict of four keys each: a page stays under 0.5 MB). */
export const MAX_LONG_PAGE = 1000

/** Longer than any identity key (255 bytes of name); a longer AFTER is refused before it is compared. */
const MAX_AFTER_LENGTH = 1024

/**
 * LIST: the stored names, sorted by identity key, or a message when there are none. An iss (VERSION)
 * request may page with AFTER (an identity key) and LIMIT; the answer then carries NEXT, the AFTER of the
 * next page, while more names follow. A request that pages with neither, and every seed request, gets the
 * whole listing, which the server encodes as it sends (DETAILS is a view, not a copy).
 */
export default class ListHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    const long = request.versioned && isLong(request.message.extra)
    let page = request.versioned ? pageOf(request.message.extra) : undefined
    // A long listing always comes in pages: its entries are held while they are encoded.
    if (long) page = {after: page?.after, limit: Math.min(page?.limit ?? MAX_LONG_PAGE, MAX_LONG_PAGE)}
    if (page === undefined) {
      const images = await this.store.list()
      return {details: images.length === 0 ? EMPTY_STORE_MESSAGE : viewOf(images)}
    }

    // One more than asked for tells whether another page follows, without counting the rest.
    const images = await this.store.list({after: page.after, limit: page.limit + 1, ...(long && {digests: true})})
    if (images.length === 0 && page.after === undefined) return {details: EMPTY_STORE_MESSAGE}
    const more = images.length > page.limit
    const shown = more ? images.slice(0, page.limit) : images
    const extra: Record<string, PickleValue> = {}
    if (more) extra.NEXT = identityKey(shown.at(-1)!.name)
    if (long) extra.ENTRIES = shown.map((image) => entryOf(image))
    return {details: shown.map((image) => image.name), extra}
  }
}

/** One view per snapshot, so that concurrent LISTs of an unchanged store share it (and its measured length). */
const views = new WeakMap<readonly StoredImage[], NameView>()

function viewOf(images: readonly StoredImage[]): NameView {
  let view = views.get(images)
  if (view === undefined) {
    view = new NameView(images)
    views.set(images, view)
  }
  return view
}

/** The names of a snapshot of images, read lazily by the frame encoder (twice: to measure, to encode). */
class NameView implements StringList {
  constructor(private readonly images: readonly StoredImage[]) {}

  get length(): number {
    return this.images.length
  }

  *[Symbol.iterator](): Iterator<string> {
    for (const image of this.images) yield image.name
  }
}

/** AFTER and LIMIT of a VERSION request, or undefined when it sent neither. */
function pageOf(extra: ReadonlyMap<string, PickleValue>): {after?: string; limit: number} | undefined {
  const after = extra.get('AFTER') ?? null
  const limit = extra.get('LIMIT') ?? null
  if (after === null && limit === null) return undefined
  if (after !== null && typeof after !== 'string')
    throw errors.malformed('AFTER must be a str (an identity key) or None', {fatal: false})
  if (typeof after === 'string' && after.length > MAX_AFTER_LENGTH)
    throw errors.malformed(`AFTER must be an identity key, at most ${MAX_AFTER_LENGTH} characters`, {fatal: false})
  if (limit !== null && (typeof limit !== 'bigint' || limit < 1n))
    throw errors.malformed('LIMIT must be a positive int or None', {fatal: false})
  return {
    after: after ?? undefined,
    limit: limit === null ? MAX_PAGE : Number(limit > BigInt(MAX_PAGE) ? BigInt(MAX_PAGE) : limit),
  }
}

/** True when a VERSION request asks for entries (LONG true or a non-zero int). */
function isLong(extra: ReadonlyMap<string, PickleValue>): boolean {
  const long = extra.get('LONG') ?? null
  if (([null, false, 0n] as PickleValue[]).includes(long)) return false
  if (long === true || typeof long === 'bigint') return true
  throw errors.malformed('LONG must be a bool or None', {fatal: false})
}

/** One entry of a long listing: NAME, SIZE (bytes), MODIFIED (seconds since the epoch, a float), SHA256 (or None). */
function entryOf(image: StoredImage): PickleValue {
  return new Map<string, PickleValue>([
    ['NAME', image.name],
    ['SIZE', BigInt(image.size)],
    ['MODIFIED', image.modifiedMs / 1000],
    ['SHA256', image.sha256 ?? null],
  ])
}
