import {Flags} from '@oclif/core'
import {randomBytes} from 'node:crypto'
import {chmod, mkdir, open, rename, rm} from 'node:fs/promises'
import path from 'node:path'

import {UsageError} from './errors.js'

/**
 * Profiles: named sets of connection settings kept in `<config dir>/config.json` (oclif's configDir:
 * ISS_CONFIG_DIR, else $XDG_CONFIG_HOME/iss or ~/.config/iss), so that a server's host, port, TLS settings and
 * token need not be typed again. A profile's keys are the names of the shared base's flags (--host, --port,
 * --tls, --ca, --fingerprint, --token, ...), whichever commands' base declares them: a flag added to the base
 * later is a profile key at once. Precedence, per flag: the command line, then the flag's environment
 * variable, then the profile, then the flag's default.
 */

/** The profile used when neither --profile nor ISS_PROFILE names one (when it exists). */
export const DEFAULT_PROFILE = 'default'
/** The file inside the config dir. */
export const CONFIG_FILE = 'config.json'
/** Flags of the base that are never profile keys: the profile itself and oclif's --json. */
const NOT_KEYS: ReadonlySet<string> = new Set(['json', 'profile'])
/** A config file is a handful of settings; anything larger is not one of ours. */
const MAX_CONFIG_BYTES = 1024 * 1024
const PROFILE_NAME = /^[\w.-]{1,64}$/u

/** --profile on the shared base (ProtocolCommand.baseFlags). */
export const profileFlags = {
  profile: Flags.string({
    env: 'ISS_PROFILE',
    helpGroup: 'CONNECTION',
    summary: `Settings profile to use (iss config); default: the profile "${DEFAULT_PROFILE}" when it exists.`,
  }),
}

/** One profile: flag name to the value as typed (`iss config set port 9696` keeps "9696"). */
export type Profile = Record<string, string>

/** The config file's shape. */
export interface ConfigFile {
  profiles: Record<string, Profile>
}

/** The flag definitions the profile layer reads: oclif's, reduced to what it uses. */
export interface ProfileFlag {
  type: 'boolean' | 'option'
  char?: string
  allowNo?: boolean
  env?: string
  options?: readonly string[]
  parse?: (input: string, context: unknown, options: unknown) => Promise<unknown>
}

export function configPath(configDir: string): string {
  return path.join(configDir, CONFIG_FILE)
}

/** Throws a UsageError unless `name` is a usable profile name. */
export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(`profile ${JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-'`)
  }
  return name
}

/** The profile keys: every flag of `baseFlags` but --profile and --json. */
export function profileKeys(baseFlags: Record<string, unknown>): string[] {
  return Object.keys(baseFlags)
    .filter((key) => !NOT_KEYS.has(key))
    .sort()
}

/**
 * Reads the config file; a missing file is an empty one. Throws a UsageError (one line, exit 2) for a file that
 * is not ours to read: too large, not JSON, or not the shape above.
 */
export async function readConfig(configDir: string): Promise<ConfigFile> {
  const file = configPath(configDir)
  let text: string
  try {
    const handle = await open(file, 'r')
    try {
      const {size} = await handle.stat()
      if (size > MAX_CONFIG_BYTES) throw new UsageError(`${file}: over ${MAX_CONFIG_BYTES} bytes, not an iss config`)
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return {profiles: Object.create(null) as Record<string, Profile>}
    if (error instanceof UsageError) throw error
    throw new UsageError(`${file}: cannot read it: ${(error as Error).message}`)
  }
  return parseConfig(text, file)
}

function parseConfig(text: string, file: string): ConfigFile {
  const broken = (why: string) => new UsageError(`${file}: ${why}; fix it or remove it (iss config unset)`)
  let data: unknown
  try {
    data = JSON.parse(text) as unknown
  } catch {
    throw broken('not valid JSON')
  }
  const profiles = (data as {profiles?: unknown} | null)?.profiles
  if (typeof profiles !== 'object' || profiles === null || Array.isArray(profiles)) {
    throw broken('no "profiles" object')
  }
  // Prototype-free copies: a profile named "__proto__" or "constructor" is just a name.
  const result = Object.create(null) as Record<string, Profile>
  for (const [name, values] of Object.entries(profiles as Record<string, unknown>)) {
    if (typeof values !== 'object' || values === null || Array.isArray(values))
      throw broken(`profile ${name} is not an object`)
    const profile = Object.create(null) as Profile
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string') throw broken(`${name}.${key} is not a string`)
      profile[key] = value
    }
    result[name] = profile
  }
  return {profiles: result}
}

/**
 * Writes the config file atomically (a temporary file beside it, fsync, rename over), readable and writable by
 * its owner only (0600, in a folder made 0700), whatever the umask: it may hold tokens.
 */
export async function writeConfig(configDir: string, config: ConfigFile): Promise<void> {
  await mkdir(configDir, {recursive: true, mode: 0o700})
  const file = configPath(configDir)
  const temporary = path.join(configDir, `.${CONFIG_FILE}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temporary, 'wx', 0o600)
  try {
    await handle.chmod(0o600)
    await handle.writeFile(JSON.stringify(config, null, 2) + '\n', 'utf8')
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(temporary, {force: true})
    throw error
  }
  await handle.close()
  try {
    await rename(temporary, file)
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  }
  // A file someone had opened up (chmod 644) is owner-only again after any write.
  await chmod(file, 0o600).catch(() => undefined)
}

/**
 * Checks `value` the way the flag `key` would parse it on the command line (an integer in range, one of the
 * options, a boolean word...) and returns it as it should be stored. Throws a UsageError naming the key.
 */
export async function checkProfileValue(
  key: string,
  value: string,
  baseFlags: Record<string, ProfileFlag>,
  context: unknown,
): Promise<string> {
  const flag = baseFlags[key]
  if (flag === undefined || NOT_KEYS.has(key)) {
    throw new UsageError(`${key}: not a profile key; the keys are ${profileKeys(baseFlags).join(', ')}`)
  }
  if (flag.type === 'boolean') {
    const word = value.toLowerCase()
    if (['true', 'yes', 'on', '1'].includes(word)) return 'true'
    if (['false', 'no', 'off', '0'].includes(word)) return 'false'
    throw new UsageError(`${key}: expected true or false, not ${JSON.stringify(value)}`)
  }
  if (flag.options !== undefined && !flag.options.includes(value)) {
    throw new UsageError(`${key}: expected one of ${flag.options.join(', ')}, not ${JSON.stringify(value)}`)
  }
  if (flag.parse !== undefined) {
    try {
      await flag.parse(value, context, flag)
    } catch (error) {
      throw new UsageError(`${key}: ${(error as Error).message}`)
    }
  }
  return value
}

/** What oclif's parser returns, reduced to what the profile layer reads. */
export interface ParseOutcome {
  flags: Record<string, unknown>
  metadata: {flags: Record<string, {setFromDefault?: boolean} | undefined>}
}

/**
 * Parses the command line with the profile applied: parses once; when a profile is in force (--profile,
 * ISS_PROFILE, or an existing "default" profile) and holds a value for a base flag that took its default (not
 * given, its environment variable empty or unset), parses again with those values in front of the command line,
 * so each goes through its flag's own parsing and checks. Throws a UsageError for an unknown profile (named by
 * --profile or ISS_PROFILE) or a profile value the flag refuses.
 */
export async function parseWithProfile<O extends ParseOutcome>(
  configDir: string,
  baseFlags: Record<string, ProfileFlag>,
  argv: string[],
  parse: (argv: string[]) => Promise<O>,
): Promise<O> {
  const first = await parse(argv)
  const named = first.flags.profile as string | undefined
  const {profiles} = await readConfig(configDir)
  const profileName = named ?? DEFAULT_PROFILE
  const profile = Object.hasOwn(profiles, profileName) ? profiles[profileName] : undefined
  if (profile === undefined) {
    if (named === undefined) return first
    const known = Object.keys(profiles)
    throw new UsageError(
      `no profile ${JSON.stringify(named)} in ${configPath(configDir)}` +
        (known.length > 0
          ? ` (profiles: ${known.sort().join(', ')})`
          : ' (create it with iss config set KEY VALUE --profile NAME)'),
    )
  }

  const prefix: string[] = []
  for (const [key, value] of Object.entries(profile)) {
    const flag = baseFlags[key]
    if (flag === undefined || NOT_KEYS.has(key)) continue // a key of a flag this command's base lacks
    const fromDefault = first.metadata.flags[key]?.setFromDefault === true || first.flags[key] === undefined
    if (!fromDefault) continue
    if (flag.type === 'boolean') {
      if (value === 'true') prefix.push(`--${key}`)
      else if (flag.allowNo) prefix.push(`--no-${key}`)
      continue
    }
    prefix.push(`--${key}=${value}`)
  }
  if (prefix.length === 0) return first
  try {
    return await parse([...prefix, ...argv])
  } catch (error) {
    throw new UsageError(
      `profile ${profileName} (${configPath(configDir)}): ${(error as Error).message.split('\n', 1)[0]}`,
    )
  }
}
