import type {AddressInfo} from 'node:net'
import type {Logger} from 'pino'

import {AccessPolicy} from './access/policy.js'
import {isLoopbackHost} from './access/loopback.js'
import {
  DEFAULT_DEADLINE_SLACK_MS,
  DEFAULT_HEADER_TIMEOUT_MS,
  DEFAULT_MIN_AVERAGE_RATE,
  maxFrameBytes,
  type ServerConfig,
} from './config.js'
import {createServerContainer, resolveHandler} from './container.js'
import {discoverHandlers, type ModuleLoader, type PluginRecord} from './discovery.js'
import {Dispatcher, errorReply} from './dispatch.js'
import {Exchange} from './request-exchange.js'
import {logRequest, silentLogger} from './logger.js'
import {DecodeBudget, DEFAULT_DECODE_BUDGET_BYTES} from './protocol/decode-budget.js'
import {REQUEST_PICKLE_LIMITS} from './protocol/pickle-decoder.js'
import type {HandlerRegistry} from './registry.js'
import type {ServerEventBus} from './events.js'
import type {ImageStore} from './store/store.js'
import {createServerStore} from './store-setup.js'
import {buildServer, type TransportServer} from './transport/server.js'
import type {ConnectionHooks} from './transport/exchange.js'
import type {ServerSocketFactory} from './transport/socket-factory.js'

/** How long a fatal answer waits for the peer to finish sending before the connection closes. */
export const DEFAULT_LINGER_MS = 10_000

/** What it takes to assemble a server. */
export interface IssServerOptions {
  readonly config: ServerConfig
  /** Plugins whose `iss` declarations are read (oclif's `config.getPluginsList()`, or records built by hand). */
  readonly plugins: readonly PluginRecord[]
  readonly logger?: Logger
  /** Defaults to the store backend `config.storage` chooses (a folder path: the file: store). */
  readonly store?: ImageStore
  /** Loads handler modules; defaults to require. */
  readonly load?: ModuleLoader
  readonly lingerMs?: number
  /** Where the server's sockets come from (plain TCP by default). */
  readonly socketFactory?: ServerSocketFactory
  /** Tokens and the anonymous grant; default: no tokens, anonymous admin on loopback and nothing elsewhere. */
  readonly access?: AccessPolicy
}

/** An assembled server: store open, handlers registered, not yet listening. */
export interface IssServer {
  readonly registry: HandlerRegistry
  readonly store: ImageStore
  /** Server events; the store emits image events, listen() and close() the server ones. */
  readonly events: ServerEventBus
  /** One line per plugin refused at start (SDK range that excludes this host). */
  readonly refused: readonly string[]
  readonly transport: TransportServer
  /** The access check every front door calls (also registered as `Tokens.Access`). */
  readonly access: AccessPolicy
  /** One request's way to the handlers (registry, access, accept/handle), for a second front door (HTTP). */
  readonly openExchange: ConnectionHooks['open']
  /** Listens on config.host and config.port. */
  listen(): Promise<AddressInfo>
  /** Graceful stop: no new connections, in-flight requests finish within the grace period, then the store closes. */
  close(): Promise<void>
}

/**
 * Assembles config + store + registry + container + transport. Handlers are discovered before the
 * store is taken, so a plugin conflict fails start-up without touching the store.
 */
export async function createIssServer(options: IssServerOptions): Promise<IssServer> {
  const {config} = options
  const logger = options.logger ?? silentLogger()
  const access = options.access ?? new AccessPolicy({loopback: isLoopbackHost(config.host)})
  const discovered = discoverHandlers(options.plugins, options.load)
  const {registry, refused} = discovered
  const {store, events} = await createServerStore({
    config,
    discovered,
    logger,
    load: options.load,
    given: options.store,
  })
  await store.open()
  try {
    const container = createServerContainer({store, logger, config, registry, access})
    const dispatcher = new Dispatcher(registry, (command) => resolveHandler(container, command), logger)
    const openExchange = (peer: string, signal: AbortSignal) =>
      new Exchange(dispatcher, store, peer, signal, logger, access)
    const transport = buildServer({
      maxConnections: config.maxConnections,
      socketFactory: options.socketFactory,
      limits: {
        maxFrameBytes: maxFrameBytes(config.maxSize),
        maxStreamBytes: config.maxSize,
        idleTimeoutMs: config.idleTimeoutMs,
        headerTimeoutMs: config.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS,
        minRateBytes: config.minRateBytes,
        rateWindowMs: config.rateWindowMs,
        minAverageRate: config.minAverageRate ?? DEFAULT_MIN_AVERAGE_RATE,
        deadlineSlackMs: config.deadlineSlackMs ?? DEFAULT_DEADLINE_SLACK_MS,
        lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
        // One budget for every connection's decoder, and request-sized limits (docs/security.md, "Cost model").
        decodeBudget: new DecodeBudget(DEFAULT_DECODE_BUDGET_BYTES),
        decodeLimits: REQUEST_PICKLE_LIMITS,
      },
      hooks: {
        open: openExchange,
        errorReply: (error, request) => errorReply(error, request, logger),
        onRequestDone(entry) {
          logRequest(logger, entry)
        },
      },
    })
    let closing: Promise<void> | null = null
    return {
      registry,
      store,
      events,
      refused,
      transport,
      access,
      openExchange,
      async listen() {
        const address = await transport.listen(config.port, config.host)
        events.emit('server.started', {host: address.address, port: address.port, store: store.describe()})
        return address
      },
      async close() {
        closing ??= (async () => {
          events.emit('server.stopping', {reason: 'close'})
          try {
            await transport.close(config.shutdownGraceMs)
          } finally {
            // Subscribers still running get their timeout, then the store goes.
            await events.idle()
            await store.close()
          }
        })()
        return closing
      },
    }
  } catch (error) {
    await store.close()
    throw error
  }
}
