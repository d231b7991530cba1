import type {Logger} from 'pino'

import type {ServerConfig} from './config.js'
import type {DiscoveryResult, ModuleLoader} from './discovery.js'
import {type EventSubscriber, ServerEventBus} from './events.js'
import {EventedStore} from './store/evented-store.js'
import {createStore} from './store/storage.js'
import type {ImageStore} from './store/store.js'

/** The store a server works on, already wrapped so that its durable changes become server events. */
export interface ServerStore {
  readonly store: ImageStore
  readonly events: ServerEventBus
}

/**
 * Builds the store `config.storage` chooses (or wraps `given`), with the event bus and every declared
 * subscriber on it. Not opened yet. Every backend and every handler gets events this way, since
 * handlers only ever see the wrapped store.
 */
export async function createServerStore(options: {
  readonly config: ServerConfig
  readonly discovered: Pick<DiscoveryResult, 'stores' | 'subscribers'>
  readonly logger: Logger
  readonly load?: ModuleLoader
  readonly given?: ImageStore
  readonly subscriberTimeoutMs?: number
}): Promise<ServerStore> {
  const {config, discovered, logger} = options
  const events = new ServerEventBus(logger, options.subscriberTimeoutMs)
  for (const {event, plugin, modulePath, subscriber} of discovered.subscribers) {
    // Discovery checked the event name; the subscriber's payload type is the plugin's promise.
    events.on(event, subscriber as unknown as EventSubscriber, `${plugin} (${modulePath})`)
  }

  const backend =
    options.given ??
    (await createStore({
      storage: config.storage,
      storageOptions: config.storageOptions,
      backends: discovered.stores,

      load: options.load ?? require,
      maxSize: config.maxSize,
      logger,
    }))
  return {store: new EventedStore(backend, events), events}
}
