import {readFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'
import {format, inspect} from 'node:util'

/*
 * The fast path of bin/run.js. Loading @oclif/core and its configuration costs about 150 ms before a command
 * starts (more than `node -e 0` itself); `iss --version` and `iss list` are done in a fraction of that. For
 * them, this module runs the real command class (its own flags, run(), catch() and exit codes) on a small
 * stand-in for the part of @oclif/core that a ProtocolCommand touches, and hands everything it is not sure
 * about to oclif unchanged: any argument it does not parse exactly as oclif would (help, unknown flags,
 * values oclif would refuse, positional arguments), oclif environment settings, and any plugin with hooks that
 * oclif would run. The decision is taken before the command runs, so falling back has no side effect.
 * Rare paths after that (an unexpected error, this.warn, this.error) use oclif's own functions, loaded then.
 * ISS_FAST_START=0 turns the fast path off (the e2e test compares both).
 */

/** Commands the fast path runs, by id: their module under the package root. */
const FAST_COMMANDS: Readonly<Record<string, string>> = {list: 'dist/src/commands/list.js'}

/** oclif hooks that would run for `--version` or a command: a plugin declaring one needs oclif. */
const RUN_HOOKS = new Set(['finally', 'init', 'postrun', 'preparse', 'prerun'])

/** Environment that changes what oclif does (debug output, JSON mode, its own switches). */
function environmentNeedsOclif(): boolean {
  if (process.env.DEBUG !== undefined) return true
  return Object.keys(process.env).some(
    (key) => key.startsWith('OCLIF_') || ['ISS_DEBUG', 'ISS_CONTENT_TYPE', 'ISS_REDIRECTED'].includes(key),
  )
}

interface PackageJson {
  name: string
  version: string
  oclif?: {
    bin?: string
    dirname?: string
    hooks?: Record<string, unknown>
    plugins?: Array<string | {name?: string; root?: string; type?: string}>
    devPlugins?: unknown[]
    jitPlugins?: Record<string, unknown>
    additionalVersionFlags?: unknown[]
    [key: string]: unknown
  }
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T
  } catch {
    return undefined
  }
}

function hasRunHooks(pjson: PackageJson): boolean {
  return Object.keys(pjson.oclif?.hooks ?? {}).some((hook) => RUN_HOOKS.has(hook))
}

/** The package.json of `name` as Node would find it from `from`, or undefined. */
function findPackage(name: string, from: string): PackageJson | undefined {
  const lookup = (Module as unknown as {_nodeModulePaths(from: string): string[]})._nodeModulePaths(from)
  for (const dir of lookup) {
    const pjson = readJson<PackageJson>(path.join(dir, name, 'package.json'))
    if (pjson !== undefined) return pjson
  }

  return undefined
}

/** oclif's data directory (ISS_DATA_DIR, else XDG), where `iss plugins install` records user plugins. */
// `||` throughout: oclif takes an empty variable as unset.
/* eslint-disable @typescript-eslint/prefer-nullish-coalescing -- empty means unset, as in oclif */
function dataDir(pjson: PackageJson): string {
  const fromEnv = process.env.ISS_DATA_DIR
  if (fromEnv) return fromEnv
  const home = process.env.HOME || os.homedir() || os.tmpdir()
  const base = process.env.XDG_DATA_HOME || path.join(home, '.local/share')
  return path.join(base, pjson.oclif?.dirname ?? pjson.name)
}
/* eslint-enable @typescript-eslint/prefer-nullish-coalescing */

/**
 * True when some plugin oclif would load declares a hook that runs for every command, or brings plugins of
 * its own: then only oclif can do what it does. Reads package.json files only (a plugin's code is never
 * loaded here), so installed plugins cost a few small reads.
 */
function pluginsNeedOclif(root: string, pjson: PackageJson): boolean {
  const {oclif = {}} = pjson
  if (hasRunHooks(pjson) || (oclif.devPlugins?.length ?? 0) > 0 || Object.keys(oclif.jitPlugins ?? {}).length > 0)
    return true
  for (const name of oclif.plugins ?? []) {
    if (typeof name !== 'string' || name.includes('*')) return true
    const plugin = findPackage(name, root)
    if (plugin === undefined || hasRunHooks(plugin) || plugin.oclif?.plugins?.length) return true
  }

  const userDir = dataDir(pjson)
  const user = readJson<PackageJson>(path.join(userDir, 'package.json'))
  for (const entry of user?.oclif?.plugins ?? []) {
    const spec = typeof entry === 'string' ? {name: entry, type: 'user'} : entry
    let pluginRoot: string | undefined
    if (spec.type === 'link') pluginRoot = spec.root
    else if (spec.type === 'user' && spec.name) pluginRoot = path.join(userDir, 'node_modules', spec.name)
    const plugin = pluginRoot === undefined ? undefined : readJson<PackageJson>(path.join(pluginRoot, 'package.json'))
    if (plugin === undefined || hasRunHooks(plugin) || plugin.oclif?.plugins?.length) return true
  }

  return false
}

/** oclif's platform name, or undefined under WSL (which oclif detects by a module of its own). */
function platformName(): string | undefined {
  if (process.platform !== 'linux') return process.platform
  if (os.release().toLowerCase().includes('microsoft')) return undefined
  let version = ''
  try {
    version = readFileSync('/proc/version', 'utf8')
  } catch {}

  return version.toLowerCase().includes('microsoft') ? undefined : 'linux'
}

/** Resolves when stdout has taken everything written, as oclif's flush() does before it returns. */
async function flush(): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write('')) resolve()
    else process.stdout.once('drain', () => resolve())
  })
}

/** A flag as the stand-in Flags builders record it: oclif's options plus the builder that made it. */
interface FastFlag {
  kind: 'boolean' | 'integer' | 'option' | 'string'
  char?: string
  default?: unknown
  env?: string
  max?: number
  min?: number
  options?: readonly string[]
  [key: string]: unknown
}

/** Flag options the fast parser implements; a flag with any other (exclusive, multiple...) goes to oclif. */
const KNOWN_FLAG_KEYS = new Set([
  'allowNo',
  'char',
  'default',
  'description',
  'env',
  'helpGroup',
  'kind',
  'max',
  'min',
  'name',
  'options',
  'summary',
  'type',
])

/** One value as oclif would parse it, or undefined where oclif would refuse it (then oclif says how). */
function parseValue(flag: FastFlag, input: string): unknown {
  switch (flag.kind) {
    case 'string': {
      return input
    }

    case 'option': {
      return flag.options?.includes(input) ? input : undefined
    }

    case 'integer': {
      if (!/^\d+$/.test(input)) return undefined
      const value = Number(input)
      if (flag.min !== undefined && value < flag.min) return undefined
      if (flag.max !== undefined && value > flag.max) return undefined
      return value
    }

    case 'boolean': {
      return undefined
    }
  }
}

interface ParseOptions {
  args?: Record<string, unknown>
  baseFlags?: Record<string, FastFlag>
  enableJsonFlag?: boolean
  flags?: Record<string, FastFlag>
  strict?: boolean
}

interface Parsed {
  args: Record<string, unknown>
  argv: string[]
  flags: Record<string, unknown>
  raw: unknown[]
  metadata: {flags: Record<string, unknown>}
  nonExistentFlags: string[]
}

/**
 * Parses argv for a command with flags only (no positional arguments), the subset of oclif's grammar that
 * scripts and people use: `--name value`, `--name=value`, `-c value`, `--json`, each at most once; values from
 * `env` when set and non-empty, else defaults. Undefined for anything else.
 */
function parseFlags(options: ParseOptions, argv: readonly string[]): Parsed | undefined {
  if (Object.keys(options.args ?? {}).length > 0) return undefined
  const flags: Record<string, FastFlag> = {...options.baseFlags, ...options.flags}
  if (options.enableJsonFlag) flags.json = {kind: 'boolean'}
  for (const flag of Object.values(flags)) {
    if (Object.keys(flag).some((key) => !KNOWN_FLAG_KEYS.has(key)) || flag.allowNo) return undefined
    if (typeof flag.default === 'function') return undefined
  }

  const byChar = new Map(Object.entries(flags).flatMap(([name, flag]) => (flag.char ? [[flag.char, name]] : [])))
  const values: Record<string, unknown> = {}
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]
    let name: string | undefined
    let input: string | undefined
    if (token.startsWith('--') && token.length > 2) {
      const equals = token.indexOf('=')
      name = equals === -1 ? token.slice(2) : token.slice(2, equals)
      if (equals !== -1) input = token.slice(equals + 1)
    } else if (/^-[A-Za-z]$/.test(token)) {
      name = byChar.get(token[1])
    }

    const flag = name === undefined ? undefined : flags[name]
    if (name === undefined || flag === undefined || Object.hasOwn(values, name)) return undefined
    if (flag.kind === 'boolean') {
      if (input !== undefined) return undefined
      values[name] = true
      continue
    }

    if (input === undefined) {
      input = argv[++i]
      if (input === undefined || input.startsWith('-')) return undefined
    }

    const value = parseValue(flag, input)
    if (value === undefined) return undefined
    values[name] = value
  }

  for (const [name, flag] of Object.entries(flags)) {
    if (Object.hasOwn(values, name) || flag.kind === 'boolean') continue
    const fromEnv = flag.env === undefined ? undefined : process.env[flag.env]
    if (fromEnv) {
      const value = parseValue(flag, fromEnv)
      if (value === undefined) return undefined
      values[name] = value
    } else if (flag.default !== undefined) {
      values[name] = flag.default
    }
  }

  return {args: {}, argv: [], flags: values, raw: [], metadata: {flags: {}}, nonExistentFlags: []}
}

/** oclif's own modules, for the rare paths; loaded by file so that the stand-in does not shadow them. */
function oclifModule<T>(coreIndex: string, file: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(path.join(path.dirname(coreIndex), file)) as T
}

interface FastConfig {
  bin: string
  name: string
  version: string
  root: string
  userAgent: string
  pjson: PackageJson
  scopedEnvVar(key: string): string | undefined
}

/** The part of `@oclif/core` that a ProtocolCommand uses, behaving as oclif 5's does. */
function standIn(coreIndex: string) {
  const build =
    (kind: FastFlag['kind']) =>
    (options: Record<string, unknown> = {}): FastFlag => ({...options, kind})
  const Flags = {
    boolean: build('boolean'),
    integer: build('integer'),
    string: build('string'),
    option: (options: Record<string, unknown>) => () => build('option')(options),
  }

  // Names and members as oclif's Command has them, since command classes override and call them.
  /* eslint-disable unicorn/prefer-private-class-fields, unicorn/no-undeclared-class-members -- oclif's names */
  class Command {
    static _base = 'iss-fast-start'
    static aliases: string[] = []
    static args: Record<string, unknown> = {}
    static baseFlags: Record<string, FastFlag> | undefined
    static enableJsonFlag = false
    static flags: Record<string, FastFlag> | undefined
    static hiddenAliases: string[] = []
    static id: string | undefined
    static strict = true
    id: string | undefined
    parsed = false
    constructor(
      public argv: string[],
      public config: FastConfig,
    ) {
      this.id = this.ctor.id
    }

    get ctor(): typeof Command {
      return this.constructor as typeof Command
    }

    async _run(): Promise<unknown> {
      let error: unknown
      let result: unknown
      try {
        await this.init()
        result = await (this as unknown as {run(): Promise<unknown>}).run()
      } catch (error_) {
        error = error_
        await this.catch(error_ as Error & {exitCode?: number; oclif?: {exit?: number}})
      } finally {
        await this.finally(error as Error | undefined)
      }

      if (result && this.jsonEnabled()) this.logJson(this.toSuccessJson(result))
      return result
    }

    async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
      // As oclif's Command.catch.
      process.exitCode ??= error.oclif?.exit ?? error.exitCode ?? 1
      if (this.jsonEnabled()) {
        this.logJson(this.toErrorJson(error))
        return
      }

      throw error
    }

    error(input: Error | string, options: object = {}): never {
      oclifModule<{error(input: Error | string, options: object): never}>(coreIndex, 'errors/error.js').error(
        input,
        options,
      )
      throw new Error('unreachable')
    }

    exit(code = 0): never {
      return oclifModule<{exit(code: number): never}>(coreIndex, 'errors/exit.js').exit(code)
    }

    async finally(_error: Error | undefined): Promise<unknown> {
      return undefined
    }

    async init(): Promise<void> {
      const global = globalThis as unknown as Record<string, {userAgent?: string}>
      global['http-call'] ??= {}
      global['http-call'].userAgent = this.config.userAgent
    }

    jsonEnabled(): boolean {
      if (!this.ctor.enableJsonFlag) return false
      if (this.config.scopedEnvVar('CONTENT_TYPE')?.toLowerCase() === 'json') return true
      const passThrough = this.argv.indexOf('--')
      const json = this.argv.indexOf('--json')
      return passThrough === -1 ? json !== -1 : json !== -1 && json < passThrough
    }

    log(message: unknown = '', ...args: unknown[]): void {
      if (this.jsonEnabled()) return
      const text = typeof message === 'string' ? message : inspect(message)
      console.log(text ? format(text, ...args) : format(...args))
    }

    logJson(json: unknown): void {
      const ux = oclifModule<{colorizeJson(json: unknown, options: object): string}>(coreIndex, 'ux/colorize-json.js')
      console.log(ux.colorizeJson(json, {pretty: true}))
    }

    logToStderr(message: unknown = '', ...args: unknown[]): void {
      if (this.jsonEnabled()) return
      const text = typeof message === 'string' ? message : inspect(message)
      console.error(text ? format(text, ...args) : format(...args))
    }

    async parse(options: ParseOptions = this.ctor, argv = this.argv): Promise<Parsed> {
      const parsed = parseFlags(options, argv)
      // Checked before the command was made, with the same options: reaching this is a bug of the fast path.
      if (parsed === undefined) throw new Error(`iss fast start: cannot parse ${argv.join(' ')}`)
      this.argv = [...argv]
      this.parsed = true
      return parsed
    }

    toErrorJson(error: unknown): unknown {
      if (error instanceof Error) return {error: {...error, message: error.message, name: error.name}}
      return {error}
    }

    toSuccessJson(result: unknown): unknown {
      return result
    }

    warn(input: Error | string): Error | string {
      if (!this.jsonEnabled()) {
        oclifModule<{warn(input: Error | string): void}>(coreIndex, 'errors/warn.js').warn(input)
      }

      return input
    }
  }

  /* eslint-enable unicorn/prefer-private-class-fields, unicorn/no-undeclared-class-members */
  return {Command, Flags, Args: {}, Interfaces: {}}
}

type FastCommandClass = ParseOptions & ReturnType<typeof standIn>['Command'] & {state?: string}

/**
 * Runs `id` with the real command module loaded over the stand-in. False (with nothing run and the modules it
 * loaded forgotten) when oclif has to do it.
 */
async function runCommand(id: string, argv: string[], root: string, pjson: PackageJson, userAgent: string) {
  const file = path.join(root, FAST_COMMANDS[id])
  const coreIndex = createRequire(file).resolve('@oclif/core')
  const before = new Set(Object.keys(require.cache))
  const forget = () => {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    for (const key of Object.keys(require.cache)) if (!before.has(key)) delete require.cache[key]
  }

  const core = new Module(coreIndex)
  core.filename = coreIndex
  core.loaded = true
  core.exports = standIn(coreIndex)
  require.cache[coreIndex] = core
  let CommandClass: FastCommandClass
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(file) as {default?: FastCommandClass}
    CommandClass = loaded.default ?? (loaded as FastCommandClass)
  } catch {
    forget()
    return false
  }

  const deprecated = CommandClass.state === 'deprecated'
  if (deprecated || typeof CommandClass !== 'function' || parseFlags(CommandClass, argv) === undefined) {
    forget()
    return false
  }

  // Later requires of @oclif/core (oclif's own rare paths) get the real one.
  // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
  delete require.cache[coreIndex]
  CommandClass.id ??= id
  const bin = pjson.oclif?.bin ?? pjson.name
  const config: FastConfig = {
    bin,
    name: pjson.name,
    version: pjson.version,
    root,
    userAgent,
    pjson,
    scopedEnvVar: (key) =>
      // eslint-disable-next-line @typescript-eslint/prefer-nullish-coalescing
      process.env[`${bin}_${key}`.replaceAll(/[/-]/g, '_').replaceAll('@', '').toUpperCase()] || undefined,
  }
  try {
    await new CommandClass(argv, config)._run()
    await flush()
  } catch (error) {
    const {handle} = oclifModule<{handle(error: Error): Promise<void>}>(coreIndex, 'errors/handle.js')
    await handle(error instanceof Error ? error : new Error(String(error)))
  }

  return true
}

/**
 * Runs `iss --version` or a fast command without oclif when it can do exactly what oclif would. Resolves
 * true when it ran (the exit code is set), false when bin/run.js must hand argv to oclif.
 */
export async function fastStart(argv: string[], root: string): Promise<boolean> {
  if (process.env.ISS_FAST_START === '0') return false
  const version = argv.length === 1 && argv[0] === '--version'
  if (!version && !Object.hasOwn(FAST_COMMANDS, argv[0] ?? '')) return false
  if (environmentNeedsOclif()) return false
  const pjson = readJson<PackageJson>(path.join(root, 'package.json'))
  if (pjson === undefined || pluginsNeedOclif(root, pjson)) return false
  const platform = platformName()
  if (platform === undefined) return false
  const arch = os.arch() === 'ia32' ? 'x86' : os.arch()
  const userAgent = `${pjson.name}/${pjson.version} ${platform}-${arch} node-${process.version}`
  if (version) {
    console.log(userAgent)
    await flush()
    return true
  }

  return runCommand(argv[0], argv.slice(1), root, pjson, userAgent)
}
