import {isAbsolute, relative, resolve} from 'node:path'

import {isScope, type Scope, SCOPES, UNDECLARED_SCOPE} from './access/scope.js'
import {type EventSubscriber, SERVER_EVENT_NAMES, type ServerEventName} from './events.js'
import type {CommandHandlerClass} from './handler.js'
import {type HandlerDeclaration, HandlerRegistry, StartupError} from './registry.js'
import {sdkRefusal} from './sdk-range.js'
import {StoreBackendRegistry} from './store/storage.js'

/**
 * What discovery needs of a plugin: oclif's `config.getPluginsList()` entries fit, and so does a
 * record built from a package.json by hand (tests, tools).
 */
export interface PluginRecord {
  readonly name: string
  readonly root: string
  readonly pjson: {readonly iss?: unknown; readonly [key: string]: unknown}
  readonly type?: string
}

/** The `iss` key of a plugin's package.json. */
export interface IssDeclaration {
  /** The semver range of SDK versions the plugin supports (e.g. "^2.0.0"). */
  sdk: string
  /**
   * COMMAND -> module path relative to the plugin root (the module default-exports the handler class),
   * or `{module, scope}` naming the scope the COMMAND needs; a bare path needs admin.
   */
  handlers: Record<string, string | HandlerEntry>
  /** URL scheme -> module path; the module default-exports a StoreBackend. */
  stores: Record<string, string>
  /** Server event -> module path(s); each module default-exports an EventSubscriber. */
  events: Record<string, string | string[]>
}

/** One handler declaration in its long form: the module and the scope its COMMAND needs. */
export interface HandlerEntry {
  readonly module: string
  readonly scope?: Scope
}

/** An event subscriber as one plugin declares it, loaded. */
export interface SubscriberDeclaration {
  readonly event: ServerEventName
  readonly plugin: string
  readonly modulePath: string
  readonly subscriber: EventSubscriber<never>
}

/** Loads a handler module; replaceable so that tests can map compiled paths to sources. */
export type ModuleLoader = (absolutePath: string) => unknown

export interface DiscoveryResult {
  readonly registry: HandlerRegistry
  /** Store backends by URL scheme; only the one `--storage` chooses is ever loaded. */
  readonly stores: StoreBackendRegistry
  readonly subscribers: SubscriberDeclaration[]
  /** One line per plugin that was refused (SDK range that excludes this host); the server starts without it. */
  readonly refused: string[]
}

const COMMAND_PATTERN = /^[A-Z][A-Z0-9_]{0,31}$/u
const SCHEME_PATTERN = /^[a-z][a-z0-9+.-]+$/u

/** A declaration map (`handlers`, `stores`, `events`): absent is empty, anything but an object is refused. */
function declarationMap(plugin: PluginRecord, key: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StartupError('ISS_BAD_HANDLER', `Plugin '${plugin.name}': "iss.${key}" must map names to module paths`)
  }

  return value as Record<string, unknown>
}

function readDeclaration(plugin: PluginRecord): IssDeclaration | null {
  const iss = plugin.pjson.iss
  if (iss === undefined) return null
  if (typeof iss !== 'object' || iss === null) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': the "iss" key of package.json must be an object`,
    )
  }

  const {sdk} = iss as {sdk?: unknown}
  const handlers = declarationMap(plugin, 'handlers', (iss as {handlers?: unknown}).handlers)
  const stores = declarationMap(plugin, 'stores', (iss as {stores?: unknown}).stores)
  const events = declarationMap(plugin, 'events', (iss as {events?: unknown}).events)
  for (const [command, entry] of Object.entries(handlers)) {
    if (!COMMAND_PATTERN.test(command) || !isHandlerEntry(entry)) {
      throw new StartupError(
        'ISS_BAD_HANDLER',
        `Plugin '${plugin.name}': handler declaration ${JSON.stringify(command)} must be an upper-case COMMAND ` +
          `mapped to a module path, or to {"module": path, "scope": ${SCOPES.map((s) => `"${s}"`).join(' | ')}}`,
      )
    }
  }

  for (const [scheme, path] of Object.entries(stores)) {
    if (!SCHEME_PATTERN.test(scheme) || typeof path !== 'string') {
      throw new StartupError(
        'ISS_BAD_HANDLER',
        `Plugin '${plugin.name}': store declaration ${JSON.stringify(scheme)} must be a lower-case URL scheme ` +
          `(without the colon) mapped to a module path`,
      )
    }
  }

  for (const [event, paths] of Object.entries(events)) {
    if (!(SERVER_EVENT_NAMES as readonly string[]).includes(event)) {
      throw new StartupError(
        'ISS_BAD_HANDLER',
        `Plugin '${plugin.name}': "iss.events" names ${JSON.stringify(event)}, which is not a server event; ` +
          `events: ${SERVER_EVENT_NAMES.join(', ')}`,
      )
    }

    const list = Array.isArray(paths) ? paths : [paths]
    if (list.some((path) => typeof path !== 'string')) {
      throw new StartupError(
        'ISS_BAD_HANDLER',
        `Plugin '${plugin.name}': "iss.events" maps ${event} to a module path or a list of them`,
      )
    }
  }

  return {
    sdk: String(sdk),
    handlers: handlers as Record<string, string | HandlerEntry>,
    stores: stores as Record<string, string>,
    events: events as Record<string, string | string[]>,
  }
}

function isHandlerEntry(entry: unknown): entry is string | HandlerEntry {
  if (typeof entry === 'string') return true
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return false
  const {module, scope} = entry as {module?: unknown; scope?: unknown}
  return typeof module === 'string' && (scope === undefined || isScope(scope))
}

/** The module and scope of a handler declaration, short form or long. */
function handlerEntry(entry: string | HandlerEntry): {module: string; scope: Scope} {
  if (typeof entry === 'string') return {module: entry, scope: UNDECLARED_SCOPE}
  return {module: entry.module, scope: entry.scope ?? UNDECLARED_SCOPE}
}

/** The absolute path of a module a plugin declares, which must stay inside the plugin. */
function modulePathOf(plugin: PluginRecord, what: string, relativePath: string): string {
  const modulePath = resolve(plugin.root, relativePath)
  const inside = relative(plugin.root, modulePath)
  if (inside.startsWith('..') || isAbsolute(inside)) {
    throw new StartupError('ISS_BAD_HANDLER', `Plugin '${plugin.name}': ${what} path leaves the plugin`)
  }

  return modulePath
}

/**
 * A plugin module's default export (CommonJS from tsc puts it on `default`; plain JS may assign
 * module.exports directly). A module that cannot be loaded at all is ISS_UNLOADABLE.
 */
function loadExport(plugin: PluginRecord, what: string, modulePath: string, load: ModuleLoader): unknown {
  let loaded: unknown
  try {
    loaded = load(modulePath)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    // The first line only: a require stack is noise on a start-up line.
    throw new StartupError(
      'ISS_UNLOADABLE',
      `Plugin '${plugin.name}': cannot load the ${what} from ${modulePath}: ${message.split('\n', 1)[0]}`,
      {cause: error},
    )
  }

  return (loaded as {default?: unknown})?.default ?? loaded
}

function loadSubscriber(plugin: PluginRecord, event: string, modulePath: string, load: ModuleLoader) {
  const candidate = loadExport(plugin, `${event} subscriber`, modulePath, load)
  if (typeof candidate !== 'function') {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': ${modulePath} must default-export a function (payload, context) for ${event}`,
    )
  }

  return candidate as EventSubscriber<never>
}

function isHandlerClass(value: unknown): value is CommandHandlerClass {
  return (
    typeof value === 'function' && typeof (value as {prototype?: {handle?: unknown}}).prototype?.handle === 'function'
  )
}

function loadHandlerClass(plugin: PluginRecord, command: string, modulePath: string, load: ModuleLoader) {
  const candidate = loadExport(plugin, `${command} handler`, modulePath, load)
  if (!isHandlerClass(candidate)) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': ${modulePath} must default-export a handler class with a handle() method`,
    )
  }

  const inject = (candidate as {inject?: unknown}).inject
  if (inject !== undefined && (!Array.isArray(inject) || inject.some((token) => typeof token !== 'symbol'))) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': ${command} handler's static inject must list tokens`,
    )
  }

  return candidate
}

/** Loads every handler and subscriber a plugin declares, registering nothing until all of them load. */
function loadPlugin(plugin: PluginRecord, declaration: IssDeclaration, registry: HandlerRegistry, load: ModuleLoader) {
  const handlers: HandlerDeclaration[] = []
  for (const [command, entry] of Object.entries(declaration.handlers)) {
    const {module, scope} = handlerEntry(entry)
    const modulePath = modulePathOf(plugin, `${command} handler`, module)
    registry.assertUnclaimed(command, plugin.name)
    handlers.push({
      command,
      plugin: plugin.name,
      modulePath,
      scope,
      handlerClass: loadHandlerClass(plugin, command, modulePath, load),
    })
  }

  const subscribers: SubscriberDeclaration[] = []
  for (const [event, paths] of Object.entries(declaration.events)) {
    for (const relativePath of Array.isArray(paths) ? paths : [paths]) {
      const modulePath = modulePathOf(plugin, `${event} subscriber`, relativePath)
      const subscriber = loadSubscriber(plugin, event, modulePath, load)
      subscribers.push({event: event as ServerEventName, plugin: plugin.name, modulePath, subscriber})
    }
  }

  return {handlers, subscribers}
}

/**
 * Reads the `iss` declaration of every plugin: loads each declared handler and event subscriber
 * module from the plugin's root, and records store backends by scheme (loaded only when chosen).
 * The core's own PUT, GET, LIST and file: store come through here like any plugin's. A plugin whose
 * SDK range excludes this host is skipped with one line in `refused`.
 */
export function discoverHandlers(plugins: readonly PluginRecord[], load: ModuleLoader = require): DiscoveryResult {
  const registry = new HandlerRegistry()
  const stores = new StoreBackendRegistry()
  const subscribers: SubscriberDeclaration[] = []
  const refused: string[] = []
  for (const plugin of plugins) {
    if (plugin.pjson.iss === undefined) continue
    const refusal = sdkRefusal(plugin)
    if (refusal !== null) {
      refused.push(`skipped: ${refusal}`)
      continue
    }

    const declaration = readDeclaration(plugin)
    if (!declaration) continue
    let loaded: ReturnType<typeof loadPlugin>
    try {
      loaded = loadPlugin(plugin, declaration, registry, load)
    } catch (error) {
      // A plugin whose files cannot be loaded (a broken install) costs one line, not the server;
      // the host's own declarations failing to load is a broken iss, and stops start-up.
      if (!(error instanceof StartupError) || error.code !== 'ISS_UNLOADABLE' || plugin.type === 'core') throw error
      refused.push(`skipped: ${error.message}; remove it with: iss plugins uninstall ${plugin.name}`)
      continue
    }

    for (const handler of loaded.handlers) registry.add(handler)
    subscribers.push(...loaded.subscribers)
    for (const [scheme, relativePath] of Object.entries(declaration.stores)) {
      stores.add({scheme, plugin: plugin.name, modulePath: modulePathOf(plugin, `${scheme}: store`, relativePath)})
    }
  }

  return {registry, stores, subscribers, refused}
}
