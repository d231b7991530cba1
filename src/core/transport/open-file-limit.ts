import {readFileSync} from 'node:fs'

/** The fallback when the limit cannot be read (not Linux): the usual soft limit of a login shell. */
const UNKNOWN_LIMIT = 1024

/**
 * The process's soft limit on open files (RLIMIT_NOFILE), read from /proc/self/limits. Node raises
 * the soft limit to the hard one at start, so this is usually the hard limit. Falls back to 1024.
 */
export function openFileLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'latin1')
      .split('\n', 64)
      .find((row) => row.startsWith('Max open files'))
    const [soft] = line?.slice('Max open files'.length).trim().split(/\s+/, 1) ?? []
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER
    const value = Number(soft)
    return Number.isSafeInteger(value) && value > 0 ? value : UNKNOWN_LIMIT
  } catch {
    return UNKNOWN_LIMIT
  }
}

/** Connections at most by default: never below this, even on a tight open-file limit. */
export const MIN_DEFAULT_CONNECTIONS = 64
/** ... and never above this, whatever the limit: past it, memory and CPU give out before descriptors do. */
export const MAX_DEFAULT_CONNECTIONS = 4096
/** Descriptors kept back for the store, logs, plugins and the listening socket. */
const RESERVED_FILES = 64

/**
 * The default `--max-connections` for an open-file limit: each connection may hold two descriptors
 * (its socket and an upload's or a download's file), so half of what is left after a reserve,
 * between {@link MIN_DEFAULT_CONNECTIONS} and {@link MAX_DEFAULT_CONNECTIONS}.
 */
export function defaultMaxConnections(limit = openFileLimit()): number {
  const fit = Math.floor((limit - RESERVED_FILES) / 2)
  return Math.max(MIN_DEFAULT_CONNECTIONS, Math.min(MAX_DEFAULT_CONNECTIONS, fit))
}
