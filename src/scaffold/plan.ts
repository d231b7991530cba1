import {SDK_VERSION} from '../core/sdk-range.js'

/** The scopes a handler declaration may name (admin > delete > write > read). */
export const HANDLER_SCOPES = ['read', 'write', 'delete', 'admin'] as const
export type HandlerScope = (typeof HANDLER_SCOPES)[number]

/** An npm package name (lower case, optionally scoped), as npm accepts it for a new package. */
const PACKAGE_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/u
/** A protocol COMMAND, as discovery accepts it in `iss.handlers`. */
const COMMAND = /^[A-Z][A-Z0-9_]{0,31}$/u

/** The tool versions a new plugin builds and tests with, when the host's package.json does not say. */
const FALLBACK_TOOLS: Readonly<Record<string, string>> = {
  // The plugin's own Node 22, as iss brings its own: npm puts it first on PATH for `npm test` and
  // `npx iss plugins link`, so both work on a machine whose system Node is older.
  node: '^22.23.3',
  typescript: '~5.9.0',
  oclif: '^4.24.0',
  mocha: '^12.0.3',
  chai: '^6.3.0',
  '@types/chai': '^5.2.3',
  '@types/mocha': '^10.0.10',
  '@types/node': '^22.20.5',
}

/** Everything the templates need to write one plugin. */
export interface PluginPlan {
  /** npm package name. */
  readonly name: string
  /** The protocol COMMAND (upper case). */
  readonly verb: string
  /** The client command id and file stem (`stat` for STAT, `make-thumb` for MAKE_THUMB). */
  readonly id: string
  /** PascalCase stem for class names. */
  readonly className: string
  /** The scope the COMMAND needs, written into the handler declaration. */
  readonly scope: HandlerScope
  /** Whether to add the image-event subscriber that appends to a log file. */
  readonly withEvents: boolean
  /** The environment variable naming the subscriber's log file. */
  readonly logEnv: string
  /** The npm spec of the SDK dev dependency. */
  readonly sdkSpec: string
  /** The SDK range the plugin declares (`^` + this host's SDK version). */
  readonly sdkRange: string
  /** Dev dependency name -> range for the build and test tools. */
  readonly tools: Readonly<Record<string, string>>
}

/** What the user asked for, before checking. */
export interface PlanRequest {
  readonly name: string
  readonly command: string
  readonly scope?: string
  readonly withEvents?: boolean
  /** Default: `file:` the host's own folder. */
  readonly sdkSpec?: string
  readonly hostRoot: string
  /** The host's devDependencies, whose tool versions the plugin reuses. */
  readonly hostDevDependencies?: Readonly<Record<string, string>>
}

/** A request that cannot become a plugin; the message is one line for the user. */
export class PlanError extends Error {}

/** Checks the request and derives the names the templates use. */
export function planPlugin(request: PlanRequest): PluginPlan {
  const {name} = request
  if (!PACKAGE_NAME.test(name) || name.length > 214) {
    throw new PlanError(
      `'${name}' is not an npm package name: use lower-case letters, digits and - . _ ~ (for example iss-plugin-stat)`,
    )
  }

  const verb = request.command.toUpperCase()
  if (!COMMAND.test(verb)) {
    throw new PlanError(
      `--command '${request.command}' is not a protocol COMMAND: a letter, then up to 31 letters, digits or _ (for example STAT)`,
    )
  }

  const scope = (request.scope ?? 'read') as HandlerScope
  if (!HANDLER_SCOPES.includes(scope)) {
    throw new PlanError(`--scope '${request.scope}' is not a scope: use one of ${HANDLER_SCOPES.join(', ')}`)
  }

  const id = verb.toLowerCase().replaceAll('_', '-')
  const className = id
    .split('-')
    .filter((part) => part.length > 0)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('')
  const bare = name.replace(/^@[^/]+\//u, '')
  const tools: Record<string, string> = {}
  for (const [tool, fallback] of Object.entries(FALLBACK_TOOLS)) {
    tools[tool] = request.hostDevDependencies?.[tool] ?? fallback
  }

  return {
    name,
    verb,
    id,
    className,
    scope,
    withEvents: request.withEvents ?? false,
    logEnv: `${bare.toUpperCase().replaceAll(/[^A-Z0-9]+/gu, '_')}_LOG`,
    sdkSpec: request.sdkSpec ?? `file:${request.hostRoot}`,
    sdkRange: `^${SDK_VERSION}`,
    tools,
  }
}
