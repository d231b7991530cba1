import {defaultMaxConnections} from './transport/open-file-limit.js'

/** The settings of one `iss serve`, injectable as `Tokens.Config`. Sizes in bytes, times in ms. */
export interface ServerConfig {
  readonly host: string
  readonly port: number
  /**
   * Where images live: a folder path, or a URL whose scheme names a store backend (`file:`, or one a
   * plugin declares), with the backend's options as query parameters.
   */
  readonly storage: string
  /**
   * Backend options given outside the URL (`--min-free` and `--no-fsync` are the file: store's
   * minFree and fsync); the URL's query parameters win. Each backend refuses names it does not know.
   */
  readonly storageOptions?: Readonly<Record<string, string | number | boolean>>
  /** Largest image accepted (decoded FILE_DATA). */
  readonly maxSize: number
  readonly maxConnections: number
  /** A connection with no request in progress closes after this long. */
  readonly idleTimeoutMs: number
  /** A request in progress must move at least this many bytes per `rateWindowMs` in each direction. */
  readonly minRateBytes: number
  readonly rateWindowMs: number
  /** A request's frame header and head must arrive within this long (default 10 000 ms). */
  readonly headerTimeoutMs?: number
  /** A whole request must average this many bytes per second over its size (default 16 KiB/s). */
  readonly minAverageRate?: number
  /** ... plus this long (default 60 000 ms). */
  readonly deadlineSlackMs?: number
  /** On SIGINT/SIGTERM, how long in-flight requests may take to finish. */
  readonly shutdownGraceMs: number
}

/** Defaults, documented in the README and docs/security.md. */
export const DEFAULT_PORT = 9595
export const DEFAULT_MAX_SIZE = 256 * 1024 * 1024
/** The file: store's default minFree (its option; kept here with the other documented defaults). */
export const DEFAULT_MIN_FREE = 64 * 1024 * 1024
/** From the open-file limit: see {@link defaultMaxConnections} (docs/security.md gives the floor and ceiling). */
export const DEFAULT_MAX_CONNECTIONS = defaultMaxConnections()
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000
export const DEFAULT_MIN_RATE_BYTES = 1024
export const DEFAULT_RATE_WINDOW_MS = 10_000
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000
/** A request's frame header and head must arrive within this long of its first byte (nginx's client_header_timeout). */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000
/** A whole request must average at least this many bytes per second over its size (plus the slack below). */
export const DEFAULT_MIN_AVERAGE_RATE = 16 * 1024
export const DEFAULT_DEADLINE_SLACK_MS = 60_000

/**
 * The largest frame accepted for a given image limit: protocols 0 to 2 carry bytes as a latin-1
 * string, which UTF-8 inflates up to 2x, plus room for the other keys.
 */
export function maxFrameBytes(maxSize: number): number {
  return Math.min(2 * maxSize + 64 * 1024, 0xffff_ffff)
}
