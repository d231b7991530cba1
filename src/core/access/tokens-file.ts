import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {mkdir, open, readFile, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {isScope, type Scope} from './scope.js'

/** One token as the tokens file keeps it: never the secret, only its SHA-256. */
export interface TokenEntry {
  /** Chosen by the admin; unique in the file; what logs and `iss token list` show. */
  readonly name: string
  /** The public part of the token's text (`iss_<id>_...`), how the server finds the entry. */
  readonly id: string
  /** SHA-256 of the secret part, lower-case hex. */
  readonly sha256: string
  readonly scope: Scope
  /** ISO 8601 times; `expires` null for a token that does not expire. */
  readonly created: string
  readonly expires: string | null
}

/** The whole tokens file. */
export interface TokensFile {
  readonly version: 1
  readonly tokens: readonly TokenEntry[]
}

/** A tokens file that cannot be read or is not shaped as one; `message` names the file and the fault. */
export class TokensFileError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'TokensFileError'
  }
}

/** Token names: what a person types and logs show, so plain and short. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/u

const EMPTY: TokensFile = {version: 1, tokens: []}

/** The file beside the tokens file where the server keeps "last used" times (see docs/security.md). */
export function lastUsedPath(tokensPath: string): string {
  return `${tokensPath}.last-used`
}

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value))
}

function checkEntry(path: string, entry: unknown, index: number): TokenEntry {
  const fault = (why: string) => new TokensFileError(`${path}: token ${index + 1} ${why}`)
  if (typeof entry !== 'object' || entry === null) throw fault('is not an object')
  const {name, id, sha256, scope, created, expires} = entry as Record<string, unknown>
  if (typeof name !== 'string' || !TOKEN_NAME_PATTERN.test(name)) throw fault('has no valid name')
  if (typeof id !== 'string' || !/^[0-9a-f]{16}$/u.test(id)) throw fault(`(${name}) has no valid id`)
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/u.test(sha256)) throw fault(`(${name}) has no valid sha256`)
  if (!isScope(scope)) throw fault(`(${name}) has no valid scope`)
  if (!isIsoTime(created)) throw fault(`(${name}) has no valid created time`)
  if (expires !== null && !isIsoTime(expires)) throw fault(`(${name}) has no valid expires time`)
  return {name, id, sha256, scope, created, expires}
}

/** Checks a parsed tokens file; throws TokensFileError naming the first fault. */
export function checkTokensFile(path: string, value: unknown): TokensFile {
  if (typeof value !== 'object' || value === null || (value as {version?: unknown}).version !== 1) {
    throw new TokensFileError(`${path}: not an iss tokens file (version 1)`)
  }

  const list = (value as {tokens?: unknown}).tokens
  if (!Array.isArray(list)) throw new TokensFileError(`${path}: "tokens" must be a list`)
  const tokens = list.map((entry, index) => checkEntry(path, entry, index))
  const names = new Set<string>()
  const ids = new Set<string>()
  for (const token of tokens) {
    if (names.has(token.name)) throw new TokensFileError(`${path}: the name ${token.name} is used twice`)
    if (ids.has(token.id)) throw new TokensFileError(`${path}: the id of ${token.name} is used twice`)
    names.add(token.name)
    ids.add(token.id)
  }

  return {version: 1, tokens}
}

/** Reads the tokens file; a file that does not exist holds no tokens. Throws TokensFileError. */
export async function readTokensFile(path: string): Promise<TokensFile> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY
    throw new TokensFileError(`cannot read the tokens file ${path}: ${(error as Error).message}`, {cause: error})
  }

  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new TokensFileError(`${path}: not valid JSON (${(error as Error).message})`, {cause: error})
  }

  return checkTokensFile(path, parsed)
}

/**
 * Replaces `path` with `text` atomically: a temporary file in the same folder, created owner-only
 * (0600) and flushed, then renamed over it. A reader (the server) sees the old file or the new one,
 * never half of one. The folder is created owner-only (0700) when missing.
 */
export async function writeFileAtomically(path: string, text: string): Promise<void> {
  const folder = dirname(path)
  await mkdir(folder, {recursive: true, mode: 0o700})
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
    try {
      await handle.writeFile(text, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }

    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  }
}

/** Writes the tokens file atomically, owner-only. */
export async function writeTokensFile(path: string, file: TokensFile): Promise<void> {
  await writeFileAtomically(path, JSON.stringify(file, null, 2) + '\n')
}

const LOCK_WAIT_MS = 5000
const LOCK_STALE_MS = 30_000

/**
 * Runs a read-change-write of the tokens file under a lock file beside it (O_EXCL), so that two
 * `iss token` commands at once do not lose each other's change. A lock older than 30 s is left by a
 * killed command and is taken over.
 */
export async function updateTokensFile<T>(
  path: string,
  change: (file: TokensFile) => {file: TokensFile; result: T},
): Promise<T> {
  const lock = `${path}.lock`
  await mkdir(dirname(path), {recursive: true, mode: 0o700})
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const handle = await open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const age = await lockAge(lock)
      if (age > LOCK_STALE_MS) await rm(lock, {force: true})
      else if (Date.now() > deadline)
        throw new TokensFileError(`the tokens file ${path} is locked by another iss token command (${lock})`)
      else await sleep(25)
    }
  }

  try {
    const {file, result} = change(await readTokensFile(path))
    await writeTokensFile(path, file)
    return result
  } finally {
    await rm(lock, {force: true})
  }
}

/** How long ago the lock file was taken; 0 when it is gone already. */
async function lockAge(lock: string): Promise<number> {
  try {
    return Date.now() - (await stat(lock)).mtimeMs
  } catch {
    return 0
  }
}

/** Reads the server's "last used" times (token id -> ISO time); missing or unreadable is empty. */
export async function readLastUsed(tokensPath: string): Promise<Map<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(lastUsedPath(tokensPath), 'utf8')) as {lastUsed?: unknown}
    const used = new Map<string, string>()
    if (typeof parsed.lastUsed === 'object' && parsed.lastUsed !== null) {
      for (const [id, time] of Object.entries(parsed.lastUsed)) if (isIsoTime(time)) used.set(id, time)
    }

    return used
  } catch {
    return new Map()
  }
}

/** Writes the "last used" times beside the tokens file (atomically, owner-only). */
export async function writeLastUsed(tokensPath: string, used: ReadonlyMap<string, string>): Promise<void> {
  await writeFileAtomically(
    lastUsedPath(tokensPath),
    JSON.stringify({version: 1, lastUsed: Object.fromEntries(used)}, null, 2) + '\n',
  )
}
