import {Flags} from '@oclif/core'
import {createHash} from 'node:crypto'
import {join} from 'node:path'
import type {Logger} from 'pino'

import {
  DEFAULT_DEADLINE_SLACK_MS,
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_MIN_AVERAGE_RATE,
  type ServerConfig,
} from '../config.js'
import {errorReply} from '../reply.js'
import type {IssServer} from '../server-app.js'
import type {TlsCredentials} from '../tls/credentials.js'
import type * as galleryApp from './gallery-app.js'

/** The flags `iss serve` takes for the gallery (spread into its flags). */
export const galleryServeFlags = {
  http: Flags.integer({
    description:
      'Also serve the web gallery and HTTP API on this port (same --host, same store and rules; HTTPS when --tls is on).',
    env: 'ISS_SERVE_HTTP',
    min: 0,
    max: 65535,
  }),
  'http-allow-host': Flags.string({
    description:
      'A host name the gallery answers to besides loopback names and the --host address (repeatable; against DNS rebinding).',
    multiple: true,
  }),
}

/** What `iss serve` hands over: its parsed flags. */
interface ServeFlags {
  readonly http?: number
  readonly 'http-allow-host'?: string[]
}

/**
 * Starts the gallery beside a listening server when --http is given, and stops it when the server
 * stops. Prints where it listens. Reads are judged by the server's access policy, writes by its request path.
 */
export async function startServeGallery(options: {
  readonly server: IssServer
  readonly flags: ServeFlags
  readonly config: ServerConfig
  readonly dataDir: string
  readonly logger: Logger
  readonly log: (line: string) => void
  /** The server's TLS when it is on: the gallery serves HTTPS with the same certificate, reloads included. */
  readonly tls?: {readonly credentials: TlsCredentials} | null
}): Promise<void> {
  const {server, flags, config, logger} = options
  if (flags.http === undefined) return
  // fastify and sharp load only for a server with a gallery.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const {buildGallery} = require('./gallery-app.js') as typeof galleryApp
  const credentials = options.tls?.credentials
  const storeId = createHash('sha256').update(server.store.describe()).digest('hex').slice(0, 16)
  const gallery = buildGallery({
    store: server.store,
    events: server.events,
    door: {openExchange: server.openExchange, errorReply: (error, request) => errorReply(error, request, logger)},
    commands: () => server.registry.commands(),
    scopeOf: (command) => server.registry.get(command)?.scope,
    access: server.access,
    logger,
    host: config.host,
    port: flags.http,
    allowHosts: flags['http-allow-host'] ?? [],
    maxSize: config.maxSize,
    thumbnailDir: join(options.dataDir, 'thumbnails', storeId),
    headerTimeoutMs: config.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS,
    requestTimeoutMs:
      Math.ceil((config.maxSize / (config.minAverageRate ?? DEFAULT_MIN_AVERAGE_RATE)) * 1000) +
      (config.deadlineSlackMs ?? DEFAULT_DEADLINE_SLACK_MS),
    idleTimeoutMs: config.idleTimeoutMs,
    https: credentials?.current(),
  })
  const address = await gallery.listen()
  const unsubscribe = credentials?.onReload((secure) => gallery.setSecureContext(secure))
  server.events.on(
    'server.stopping',
    async () => {
      unsubscribe?.()
      await gallery.close()
    },
    'gallery',
  )
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  options.log(`gallery on ${credentials ? 'https' : 'http'}://${host}:${address.port}/`)
}
