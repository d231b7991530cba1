import type {AddressInfo} from 'node:net'
import type {SecureContextOptions, Server as TlsServer} from 'node:tls'
import fastify, {type FastifyInstance} from 'fastify'
import type {Logger} from 'pino'

import type {ServerEventBus} from '../events.js'
import type {ImageStore} from '../store/store.js'
import {TLS_MIN_VERSION} from '../transport/socket-factory.js'
import {registerApiRoutes} from './api-routes.js'
import {type GalleryAccess, OPEN_ACCESS, type Scope} from './gallery-access.js'
import {entryOf, type GalleryContext, sendError, sendErrorBody} from './gallery-context.js'
import {allowedHosts, isAllowedHost} from './host-allowlist.js'
import type {ExchangeDoor} from './http-exchange.js'
import {ImageListing} from './image-listing.js'
import {registerImageRoutes} from './image-routes.js'
import {LiveEvents} from './live-events.js'
import {loadPageAssets, type PageAsset} from './page-assets.js'
import {ThumbnailCache} from './thumbnail-cache.js'
import {DEFAULT_THUMBNAIL_LIMITS, Thumbnailer, type ThumbnailLimits} from './thumbnailer.js'

/** No inline script or style, nothing from elsewhere; images also from blob: URLs (fetched with a token). */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Everything a gallery needs from the server it belongs to. Sizes in bytes, times in ms. */
export interface GalleryOptions {
  readonly store: ImageStore
  readonly events: ServerEventBus
  /** The server's request path (`IssServer.openExchange`) and its error replies. */
  readonly door: ExchangeDoor
  /** The COMMANDs the server serves. */
  readonly commands: () => readonly string[]
  /** The scope a COMMAND's handler declares, when served. */
  readonly scopeOf: (command: string) => Scope | undefined
  /** The server's access policy; without one (a test of the gallery alone), every request may do everything. */
  readonly access?: GalleryAccess
  readonly logger: Logger
  /** Address and port to listen on (port 0: any free port). */
  readonly host: string
  readonly port: number
  /** Host names the gallery answers to besides loopback names and its bound address. */
  readonly allowHosts?: readonly string[]
  readonly maxSize: number
  /** Where thumbnails are cached (derived data, outside the store). */
  readonly thumbnailDir: string
  readonly thumbnailLimits?: ThumbnailLimits
  /** Request headers must arrive within this long. */
  readonly headerTimeoutMs: number
  /** A whole request (an upload's body included) must arrive within this long. */
  readonly requestTimeoutMs: number
  /** A keep-alive connection with no request closes after this long. */
  readonly idleTimeoutMs: number
  /** HTTPS with these options (certificate and key), when the server's TLS is on. */
  readonly https?: SecureContextOptions
}

/** A built gallery: routes ready, not yet listening. */
export interface Gallery {
  readonly app: FastifyInstance
  readonly thumbnails: Thumbnailer
  listen(): Promise<AddressInfo>
  /** Takes a new certificate (the server's TLS reloaded it); HTTPS only. */
  setSecureContext(options: SecureContextOptions): void
  /** Ends live streams, lets requests in flight finish, stops listening. */
  close(): Promise<void>
}

/**
 * Builds the web gallery and HTTP API (fastify) over a server's store. Reads go to the store
 * through the access policy; writes go through the server's own request path (`door`), so the
 * protocol's handlers decide them. Open pages learn of every publish and delete through server
 * events, whichever front door made them.
 */
export function buildGallery(options: GalleryOptions): Gallery {
  const {logger} = options
  const assets = loadPageAssets()
  const live = new LiveEvents()
  const thumbnails = new Thumbnailer(
    options.store,
    new ThumbnailCache(options.thumbnailDir),
    logger,
    options.thumbnailLimits ?? DEFAULT_THUMBNAIL_LIMITS,
    (image, facts) => live.send('thumbnail', entryOf(image, facts)),
  )
  const context: GalleryContext = {
    store: options.store,
    door: options.door,
    access: options.access ?? OPEN_ACCESS,
    commands: options.commands,
    scopeOf: options.scopeOf,
    maxSize: options.maxSize,
    thumbnails,
    listing: new ImageListing(options.store, options.events),
    live,
    logger,
  }
  wireEvents(options.events, context)

  const app = fastify({
    logger: false,
    bodyLimit: options.maxSize,
    // A name of 255 bytes of UTF-8, each percent-encoded.
    routerOptions: {maxParamLength: 4096},
    requestTimeout: options.requestTimeoutMs,
    connectionTimeout: options.idleTimeoutMs,
    keepAliveTimeout: 5000,
    ...(options.https && {https: {...options.https, minVersion: TLS_MIN_VERSION}}),
  })
  app.server.headersTimeout = options.headerTimeoutMs

  const hosts = allowedHosts(options.host, options.allowHosts)
  app.addHook('onRequest', async (request, reply) => {
    void reply
      .header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .header('X-Frame-Options', 'DENY')
      .header('Cross-Origin-Opener-Policy', 'same-origin')
      .header('Cross-Origin-Resource-Policy', 'same-origin')
    if (!isAllowedHost(request.headers.host, hosts)) {
      return sendErrorBody(reply, 421, {
        status: 'ERROR',
        code: 'E_HOST',
        details: 'This server does not answer to that host name (start it with --http-allow-host NAME to allow it)',
      })
    }
  })
  app.addHook('onResponse', async (request, reply) => {
    logger.info(
      {
        front: 'http',
        peer: request.ip,
        method: request.method,
        path: request.url.split('?', 1)[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'http request',
    )
  })
  app.setErrorHandler(async (error, _request, reply) => {
    const status = (error as {statusCode?: number}).statusCode
    if (status !== undefined && status >= 400 && status < 500) {
      return sendErrorBody(reply, status, {status: 'ERROR', code: 'E_HTTP', details: (error as Error).message})
    }

    return sendError(reply, error, logger)
  })
  app.setNotFoundHandler(async (_request, reply) =>
    sendErrorBody(reply, 404, {status: 'ERROR', code: 'E_NO_ROUTE', details: 'No such page'}),
  )

  registerPage(app, assets)
  registerApiRoutes(app, context)
  registerImageRoutes(app, context, assets.get('placeholder.svg')!)

  return {
    app,
    thumbnails,
    async listen() {
      await app.listen({host: options.host, port: options.port})
      return app.server.address() as AddressInfo
    },
    setSecureContext(secure) {
      ;(app.server as unknown as TlsServer).setSecureContext({...secure, minVersion: TLS_MIN_VERSION})
    },
    async close() {
      live.close()
      await app.close()
      await thumbnails.idle()
    },
  }
}

function registerPage(app: FastifyInstance, assets: ReadonlyMap<string, PageAsset>): void {
  for (const [name, asset] of assets) {
    app.get(name === 'index.html' ? '/' : `/assets/${name}`, async (request, reply) => {
      void reply.header('ETag', asset.etag).header('Cache-Control', 'no-cache')
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send()
      return reply.header('Content-Type', asset.type).send(asset.body)
    })
  }
}

/** Open pages hear of every change, after it is durable; thumbnails follow publishes and go with deletes. */
function wireEvents(events: ServerEventBus, context: GalleryContext): void {
  const {live, thumbnails} = context
  events.on(
    'image.published',
    ({image}) => {
      live.send('published', entryOf(image, null))
      thumbnails.schedule(image)
    },
    'gallery',
  )
  events.on(
    'image.deleted',
    async ({image}) => {
      live.send('deleted', {name: image.name})
      await thumbnails.cache.remove(image)
    },
    'gallery',
  )
  events.on(
    'image.renamed',
    async ({from, to}) => {
      live.send('deleted', {name: from.name})
      live.send('published', entryOf(to, null))
      await thumbnails.cache.remove(from)
      thumbnails.schedule(to)
    },
    'gallery',
  )
}
