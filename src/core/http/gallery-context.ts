import type {FastifyReply, FastifyRequest} from 'fastify'
import type {Logger} from 'pino'

import {asIssError} from '../reply.js'
import type {ImageStore, StoredImage} from '../store/store.js'
import {bearerToken, type GalleryAccess, type Scope} from './gallery-access.js'
import type {ExchangeDoor} from './http-exchange.js'
import {httpStatusOf, type HttpErrorBody} from './http-status.js'
import type {ImageListing} from './image-listing.js'
import type {LiveEvents} from './live-events.js'
import type {ThumbnailFacts} from './thumbnail-cache.js'
import type {Thumbnailer} from './thumbnailer.js'

/** What the gallery's routes share: the server's store and request path, and the gallery's own parts. */
export interface GalleryContext {
  readonly store: ImageStore
  readonly door: ExchangeDoor
  readonly access: GalleryAccess
  /** The COMMANDs the server serves now (DELETE only when a plugin provides it). */
  readonly commands: () => readonly string[]
  /** The scope a COMMAND's handler declares, when served. */
  readonly scopeOf: (command: string) => Scope | undefined
  readonly maxSize: number
  readonly thumbnails: Thumbnailer
  readonly listing: ImageListing
  readonly live: LiveEvents
  readonly logger: Logger
}

/** host:port of the peer, in the TCP side's form, for access rules and logs. */
export function peerOf(request: FastifyRequest): string {
  return `${request.socket.remoteAddress ?? 'unknown'}:${request.socket.remotePort ?? 0}`
}

/** Answers an error with its catalogue status and the protocol's CODE and DETAILS. */
export async function sendError(reply: FastifyReply, error: unknown, logger?: Logger): Promise<FastifyReply> {
  const issError = asIssError(error)
  if (issError.code === 'E_INTERNAL') logger?.error({err: error}, 'gallery request failed')
  return sendErrorBody(reply, httpStatusOf(issError.code), {
    status: 'ERROR',
    code: issError.code,
    details: issError.message,
  })
}

export async function sendErrorBody(reply: FastifyReply, status: number, body: HttpErrorBody): Promise<FastifyReply> {
  if (status === 401) void reply.header('WWW-Authenticate', 'Bearer realm="iss"')
  return reply.code(status).header('Cache-Control', 'no-store').send(body)
}

/** Judges the request's bearer token for `needed`; answers 401/403 and returns false when it falls short. */
export async function allowed(
  context: GalleryContext,
  request: FastifyRequest,
  reply: FastifyReply,
  needed: Scope,
): Promise<boolean> {
  try {
    await context.access.judge(bearerToken(request.headers.authorization), needed, peerOf(request), {
      command: `${request.method} ${request.url.split('?', 1)[0]}`,
    })
    return true
  } catch (error) {
    await sendError(reply, error, context.logger)
    return false
  }
}

/** URL path of an image or its thumbnail: the stored name, percent-encoded as one path segment. */
export function imagePath(kind: 'images' | 'thumbs', name: string): string {
  return `/${kind}/${encodeURIComponent(name)}`
}

/** One image as the API and the live events describe it. */
export interface ImageEntry {
  readonly name: string
  readonly size: number
  /** ISO 8601 time of upload. */
  readonly modified: string
  readonly modifiedMs: number
  /** Pixels, once known (null until its thumbnail was made, or when the header cannot be read). */
  readonly width: number | null
  readonly height: number | null
  readonly url: string
  readonly thumbnail: string
  /** True when the thumbnail is the placeholder (the image did not decode). */
  readonly placeholder: boolean
}

export function entryOf(image: StoredImage, facts: ThumbnailFacts | null): ImageEntry {
  return {
    name: image.name,
    size: image.size,
    modified: new Date(image.modifiedMs).toISOString(),
    modifiedMs: image.modifiedMs,
    width: facts?.width ?? null,
    height: facts?.height ?? null,
    url: imagePath('images', image.name),
    thumbnail: imagePath('thumbs', image.name),
    placeholder: facts?.placeholder ?? false,
  }
}
