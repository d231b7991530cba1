import {resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import type {Logger} from 'pino'

import type {ModuleLoader} from '../discovery.js'
import {StartupError} from '../registry.js'
import type {StoreBackend} from './backend.js'
import type {ImageStore} from './store.js'

/** A store backend as one plugin declares it: its module is loaded only when `--storage` chooses it. */
export interface StoreDeclaration {
  /** The URL scheme, lower case, without the colon (e.g. 'file'). */
  readonly scheme: string
  readonly plugin: string
  /** Absolute path of the module that default-exports the {@link StoreBackend}. */
  readonly modulePath: string
}

/** Scheme -> the one backend declaration serving it. Filled by discovery. */
export class StoreBackendRegistry {
  private readonly byScheme = new Map<string, StoreDeclaration>()

  add(declaration: StoreDeclaration): void {
    const existing = this.byScheme.get(declaration.scheme)
    if (existing) {
      throw new StartupError(
        'ISS_HANDLER_CONFLICT',
        `Storage scheme ${declaration.scheme}: is declared by both plugin '${existing.plugin}' and plugin ` +
          `'${declaration.plugin}'; uninstall one of them`,
      )
    }

    this.byScheme.set(declaration.scheme, declaration)
  }

  get(scheme: string): StoreDeclaration | undefined {
    return this.byScheme.get(scheme)
  }

  schemes(): string[] {
    return [...this.byScheme.keys()].toSorted()
  }
}

/** A URL scheme of two characters or more (one letter followed by ':' is a Windows drive). */
const SCHEME = /^([a-z][a-z0-9+.-]+):/iu

/** `--storage` as a URL: a plain path (absolute or relative to the working directory) becomes a `file:` URL. */
export function storageUrl(storage: string): URL {
  if (!SCHEME.test(storage)) return pathToFileURL(resolve(storage))
  try {
    return new URL(storage)
  } catch {
    throw new StartupError('ISS_BAD_STORAGE', `--storage ${storage} is neither a folder path nor a valid URL`)
  }
}

export interface CreateStoreOptions {
  /** `--storage`: a path or a URL whose scheme names a backend. */
  readonly storage: string
  /** Options from flags (e.g. minFree from --min-free); the URL's query parameters win over them. */
  readonly storageOptions?: Readonly<Record<string, string | number | boolean>>
  readonly backends: StoreBackendRegistry
  readonly load: ModuleLoader
  readonly maxSize: number
  readonly logger: Logger
  readonly env?: Readonly<Record<string, string | undefined>>
}

function loadBackend(declaration: StoreDeclaration, load: ModuleLoader): StoreBackend {
  let loaded: unknown
  try {
    loaded = load(declaration.modulePath)
  } catch (error) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${declaration.plugin}': cannot load the ${declaration.scheme}: store from ${declaration.modulePath}: ` +
        (error as Error).message,
      {cause: error},
    )
  }

  const candidate = ((loaded as {default?: unknown})?.default ?? loaded) as Partial<StoreBackend> | undefined
  if (typeof candidate?.create !== 'function' || typeof candidate.options !== 'object' || candidate.options === null) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${declaration.plugin}': ${declaration.modulePath} must default-export a store backend ` +
        `({description, options, create})`,
    )
  }

  return candidate as StoreBackend
}

/**
 * Builds the store `--storage` names: the backend declared for its scheme gets the URL, its
 * options (query parameters over flag values; names it does not declare are refused) and the
 * environment. The store is not opened yet.
 */
export async function createStore(options: CreateStoreOptions): Promise<ImageStore> {
  const url = storageUrl(options.storage)
  const scheme = url.protocol.slice(0, -1).toLowerCase()
  const declaration = options.backends.get(scheme)
  if (declaration === undefined) {
    throw new StartupError(
      'ISS_BAD_STORAGE',
      `--storage ${options.storage}: no store backend serves ${scheme}: URLs; installed: ` +
        `${
          options.backends
            .schemes()
            .map((s) => `${s}:`)
            .join(', ') || 'none'
        } (a plugin can add one)`,
    )
  }

  const backend = loadBackend(declaration, options.load)
  const given: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.storageOptions ?? {})) given[name] = String(value)
  for (const [name, value] of url.searchParams) given[name] = value
  const unknown = Object.keys(given).filter((name) => !Object.hasOwn(backend.options, name))
  if (unknown.length > 0) {
    const known = Object.keys(backend.options)
    throw new StartupError(
      'ISS_BAD_STORAGE',
      `--storage ${options.storage}: the ${scheme}: store has no option ${unknown.join(', ')}; ` +
        `it takes ${known.length > 0 ? known.join(', ') : 'no options'}`,
    )
  }

  try {
    return await backend.create({
      url,
      options: given,
      env: options.env ?? process.env,
      maxSize: options.maxSize,
      logger: options.logger,
    })
  } catch (error) {
    throw new StartupError('ISS_BAD_STORAGE', `--storage ${options.storage}: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
