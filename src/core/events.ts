import type {Logger} from 'pino'

import type {StoredImage} from './store/store.js'

/**
 * What the server has done, by event name: the one map that types every emitter and subscriber
 * (as oclif's Hooks interface types its hooks). Image events are emitted after the change is
 * durable (published and fsynced, or removed), never for a partial file.
 */
export interface ServerEvents {
  /** An image was stored under its name; it is visible to GET and LIST. */
  'image.published': {readonly image: StoredImage}
  /** An image was removed; its name is free. */
  'image.deleted': {readonly image: StoredImage}
  /** An image now answers to another name (a store that can rename). */
  'image.renamed': {readonly from: StoredImage; readonly to: StoredImage}
  /** The server listens and serves. */
  'server.started': {readonly host: string; readonly port: number; readonly store: string}
  /** The server stops taking requests (requests in flight may still finish). */
  'server.stopping': {readonly reason: string}
}

/** The name of a server event: `image.published`, `image.deleted`, `image.renamed`, `server.started`, `server.stopping`. */
export type ServerEventName = keyof ServerEvents

/** Every event name, for validating declarations. */
export const SERVER_EVENT_NAMES: readonly ServerEventName[] = [
  'image.published',
  'image.deleted',
  'image.renamed',
  'server.started',
  'server.stopping',
]

/** What a subscriber receives besides the payload. */
export interface EventContext<E extends ServerEventName = ServerEventName> {
  readonly event: E
  readonly logger: Logger
}

/**
 * A subscriber: the default export of a module declared under `"iss": {"events": {...}}`. It may be
 * async; what it throws, and how long it takes, never changes a request's answer.
 */
export type EventSubscriber<E extends ServerEventName = ServerEventName> = (
  payload: ServerEvents[E],
  context: EventContext<E>,
) => unknown

/** How long a subscriber may run before it is logged as hung (it is not awaited by requests anyway). */
export const DEFAULT_SUBSCRIBER_TIMEOUT_MS = 5000

interface Subscription {
  readonly subscriber: EventSubscriber<never>
  /** Who declared it, for the log (plugin name and module). */
  readonly source: string
}

/**
 * Delivers server events to subscribers without ever blocking or failing the emitter: each call runs
 * on its own, a throw or rejection is logged, and one that has not settled after the timeout is
 * logged as hung and no longer waited for.
 */
export class ServerEventBus {
  private readonly subscriptions = new Map<ServerEventName, Subscription[]>()
  private readonly inFlight = new Set<Promise<void>>()

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs = DEFAULT_SUBSCRIBER_TIMEOUT_MS,
  ) {}

  on<E extends ServerEventName>(event: E, subscriber: EventSubscriber<E>, source = 'anonymous'): void {
    const list = this.subscriptions.get(event) ?? []
    list.push({subscriber, source})
    this.subscriptions.set(event, list)
  }

  /** Calls every subscriber of `event` in the background; returns at once and never throws. */
  emit<E extends ServerEventName>(event: E, payload: ServerEvents[E]): void {
    for (const {subscriber, source} of this.subscriptions.get(event) ?? []) {
      const delivery = this.deliver(event, payload, subscriber as EventSubscriber<E>, source)
      this.inFlight.add(delivery)
      void delivery.finally(() => this.inFlight.delete(delivery))
    }
  }

  /** Resolves once every delivery in flight has settled or timed out (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }

  /** Subscribers of `event` (for start-up output and tests). */
  count(event: ServerEventName): number {
    return this.subscriptions.get(event)?.length ?? 0
  }

  private async deliver<E extends ServerEventName>(
    event: E,
    payload: ServerEvents[E],
    subscriber: EventSubscriber<E>,
    source: string,
  ): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const hung = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), this.timeoutMs)
      timer.unref()
    })
    try {
      // The subscriber starts on a later tick: the emitter's answer goes out first, whatever it does.
      await Promise.resolve()
      const outcome = await Promise.race([
        Promise.resolve(subscriber(payload, {event, logger: this.logger})).then(() => 'done' as const),
        hung,
      ])
      if (outcome === 'hung') {
        this.logger.warn(
          {event, subscriber: source, timeoutMs: this.timeoutMs},
          'event subscriber did not finish in time',
        )
      }
    } catch (error) {
      this.logger.warn(
        {event, subscriber: source, err: error instanceof Error ? error.message : String(error)},
        'event subscriber failed',
      )
    } finally {
      clearTimeout(timer)
    }
  }
}
