import {identityKey} from './images/names.js'
import {printable} from './printable.js'
import type {PickleValue} from './protocol/values.js'
import {formatBytes} from './transfer-progress.js'

/** One image of a long listing, as `iss list --long --json` prints it. */
export interface ListEntry {
  name: string
  /** Bytes, or null when the server did not say (a seed server). */
  size: number | null
  /** When it was stored (ISO 8601, UTC), or null when the server did not say. */
  modified: string | null
  /** SHA-256 (lowercase hex), or null when the server keeps none for it. */
  sha256: string | null
}

/** Hex digits of the digest shown in `iss list --long` (as git shows short hashes). */
const SHORT_DIGEST = 12

/**
 * The entries of a LIST page: from its ENTRIES (an iss server asked with LONG), matched to DETAILS by
 * position; a server that sent none (a seed server) gives names with unknown facts. Malformed entries are
 * read as unknown rather than trusted.
 */
export function entriesOf(names: readonly string[], entries: PickleValue | undefined): ListEntry[] {
  const list = Array.isArray(entries) ? entries : []
  return names.map((name, index) => {
    const entry = list[index]
    const get = (key: string) => (entry instanceof Map ? entry.get(key) : undefined)
    const size = get('SIZE')
    const modified = get('MODIFIED')
    const sha256 = get('SHA256')
    return {
      name,
      size: typeof size === 'bigint' && size >= 0n ? Number(size) : null,
      modified:
        typeof modified === 'number' && Number.isFinite(modified) && Math.abs(modified) < 1e11
          ? new Date(modified * 1000).toISOString()
          : null,
      sha256: typeof sha256 === 'string' && /^[\da-f]{64}$/.test(sha256) ? sha256 : null,
    }
  })
}

/** A name filter from a shell-style pattern (`*`, `?`, `[...]`), compared as names are: case-insensitively. */
export function nameFilter(pattern: string | undefined): (name: string) => boolean {
  if (pattern === undefined) return () => true
  const regex = globRegExp(identityKey(pattern))
  return (name) => regex.test(identityKey(name))
}

/**
 * A shell pattern as a RegExp over a whole name: `*` any run, `?` one character, `[abc]`, `[a-z]`,
 * `[!abc]` one of (or none of) a set; `\` quotes the next character. Names have no `/`, so there is no
 * path logic; written here rather than adding a glob library for these four rules (path.matchesGlob is
 * still experimental on the Node 22 versions iss supports).
 */
export function globRegExp(pattern: string): RegExp {
  let source = ''
  const chars = [...pattern]
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index]
    if (char === '*') source += '.*'
    else if (char === '?') source += '.'
    else if (char === '\\' && index + 1 < chars.length) source += escapeRegExp(chars[++index])
    else if (char === '[') {
      const close = chars.indexOf(']', index + 2)
      if (close === -1) {
        source += '\\['
        continue
      }

      let set = chars.slice(index + 1, close)
      const isNegated = set[0] === '!' || set[0] === '^'
      if (isNegated) set = set.slice(1)
      const body = set.map((item) => (item === '-' ? '-' : escapeRegExp(item))).join('')
      source += `[${isNegated ? '^' : ''}${body}]`
      index = close
    } else source += escapeRegExp(char)
  }

  return new RegExp(`^${source}$`, 'su')
}

function escapeRegExp(char: string): string {
  return /[$()*+.?[\\\]^{|}\-/]/.test(char) ? `\\${char}` : char
}

/** `YYYY-MM-DD HH:MM` in local time, as `ls -l --time-style=long-iso` shows it. */
function localTime(iso: string): string {
  const date = new Date(iso)
  const pad = (value: number) => String(value).padStart(2, '0')
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  )
}

/**
 * One line per entry, columns aligned as `ls -l` users expect: size (human units, right-aligned), time,
 * short digest, name. Widths are fixed (the listing arrives in pages and prints as it comes).
 */
export function formatEntries(entries: readonly ListEntry[]): string {
  return entries
    .map((entry) => {
      const size = (entry.size === null ? '?' : formatBytes(entry.size)).padStart(10)
      const time = (entry.modified === null ? '?' : localTime(entry.modified)).padEnd(16)
      const digest = (entry.sha256 === null ? '-' : entry.sha256.slice(0, SHORT_DIGEST)).padEnd(SHORT_DIGEST)
      return `${size}  ${time}  ${digest}  ${printable(entry.name)}\n`
    })
    .join('')
}
