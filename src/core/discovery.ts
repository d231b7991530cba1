import {isAbsolute, relative, resolve} from 'node:path'

import type {CommandHandlerClass} from './handler.js'
import {HandlerRegistry, StartupError} from './registry.js'

/** The SDK API versions this host can run handlers for. */
export const SUPPORTED_SDK_APIS: readonly string[] = ['1']

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
  /** The SDK API the plugin was built for (e.g. "1"). */
  sdkApi: string
  /** COMMAND -> module path relative to the plugin root; the module default-exports the handler class. */
  handlers: Record<string, string>
}

/** Loads a handler module; replaceable so that tests can map compiled paths to sources. */
export type ModuleLoader = (absolutePath: string) => unknown

export interface DiscoveryResult {
  readonly registry: HandlerRegistry
  /** One line per plugin that was refused (SDK API out of range); the server starts without it. */
  readonly refused: string[]
}

const COMMAND_PATTERN = /^[A-Z][A-Z0-9_]{0,31}$/u

function readDeclaration(plugin: PluginRecord): IssDeclaration | null {
  const iss = plugin.pjson.iss
  if (iss === undefined) return null
  if (typeof iss !== 'object' || iss === null) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': the "iss" key of package.json must be an object`,
    )
  }

  const {sdkApi, handlers} = iss as {sdkApi?: unknown; handlers?: unknown}
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': "iss.handlers" must map COMMAND to a module path`,
    )
  }

  for (const [command, path] of Object.entries(handlers)) {
    if (!COMMAND_PATTERN.test(command) || typeof path !== 'string') {
      throw new StartupError(
        'ISS_BAD_HANDLER',
        `Plugin '${plugin.name}': handler declaration ${JSON.stringify(command)} must be an upper-case COMMAND ` +
          `mapped to a module path`,
      )
    }
  }

  return {sdkApi: String(sdkApi), handlers: handlers as Record<string, string>}
}

function isHandlerClass(value: unknown): value is CommandHandlerClass {
  return (
    typeof value === 'function' && typeof (value as {prototype?: {handle?: unknown}}).prototype?.handle === 'function'
  )
}

function loadHandlerClass(plugin: PluginRecord, command: string, modulePath: string, load: ModuleLoader) {
  let loaded: unknown
  try {
    loaded = load(modulePath)
  } catch (error) {
    throw new StartupError(
      'ISS_BAD_HANDLER',
      `Plugin '${plugin.name}': cannot load the ${command} handler from ${modulePath}: ${(error as Error).message}`,
      {cause: error},
    )
  }

  // CommonJS from tsc puts the class on `default`; plain JS may assign module.exports directly.
  const candidate = (loaded as {default?: unknown})?.default ?? loaded
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

/**
 * Reads the `iss` declaration of every plugin, loads each declared handler module from the plugin's
 * root and fills a registry. The core's own PUT, GET and LIST come through here like any plugin's.
 */
export function discoverHandlers(plugins: readonly PluginRecord[], load: ModuleLoader = require): DiscoveryResult {
  const registry = new HandlerRegistry()
  const refused: string[] = []
  for (const plugin of plugins) {
    const declaration = readDeclaration(plugin)
    if (!declaration) continue
    if (!SUPPORTED_SDK_APIS.includes(declaration.sdkApi)) {
      refused.push(
        `Plugin '${plugin.name}' was built for iss SDK API ${declaration.sdkApi}, but this iss supports SDK API ` +
          `${SUPPORTED_SDK_APIS.join(', ')}; its handlers (${Object.keys(declaration.handlers).join(', ')}) are not loaded`,
      )
      continue
    }

    for (const [command, relativePath] of Object.entries(declaration.handlers)) {
      const modulePath = resolve(plugin.root, relativePath)
      const inside = relative(plugin.root, modulePath)
      if (inside.startsWith('..') || isAbsolute(inside)) {
        throw new StartupError('ISS_BAD_HANDLER', `Plugin '${plugin.name}': ${command} handler path leaves the plugin`)
      }

      registry.assertUnclaimed(command, plugin.name)
      const handlerClass = loadHandlerClass(plugin, command, modulePath, load)
      registry.add({command, plugin: plugin.name, modulePath, handlerClass})
    }
  }

  return {registry, refused}
}
