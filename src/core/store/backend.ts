import type {Logger} from 'pino'

import type {ImageStore} from './store.js'

/** One option a store backend understands, for `iss serve --help`-like listings and refusals. */
export interface StoreOptionInfo {
  readonly description: string
  /** The environment variable that sets it when neither the URL nor a flag does. */
  readonly env?: string
}

/** What a backend is given to build its store from `--storage`. */
export interface StoreBackendContext {
  /** The storage location; a plain path arrives as a `file:` URL. */
  readonly url: URL
  /**
   * The options: the URL's query parameters over those `iss serve` flags give (e.g. --min-free as
   * `minFree`), as strings. Only names the backend declares in `options` arrive here.
   */
  readonly options: Readonly<Record<string, string>>
  /** The process environment, for the backend's own variables. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Largest image the server accepts, in bytes. */
  readonly maxSize: number
  readonly logger: Logger
}

/**
 * A store backend: the default export of a module declared by URL scheme under
 * `"iss": {"stores": {"<scheme>": "./dist/....js"}}`. The core's filesystem store is declared the
 * same way (`file`), so a plugin adds a backend exactly as the core does.
 */
export interface StoreBackend {
  /** One line: where it keeps images, and the URL form (e.g. "files in one folder: file:///path?minFree=64MiB"). */
  readonly description: string
  /** Every option the backend accepts, by name; any other query parameter is refused at start. */
  readonly options: Readonly<Record<string, StoreOptionInfo>>
  /** Builds the store (not yet opened). Throw to refuse the location or an option value, with a message a person can act on. */
  create(context: StoreBackendContext): ImageStore | Promise<ImageStore>
}
