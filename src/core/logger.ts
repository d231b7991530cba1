import pino, {type Logger} from 'pino'

/** Log levels `iss serve --log-level` accepts. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** What the server knows of one answered request, for its log line. */
export interface RequestLogEntry {
  peer: string
  command: string | null
  filename: string | null
  /** FILE_DATA bytes received (PUT) or sent (GET). */
  bytes: number
  durationMs: number
  /** ABORTED: the peer went away (or fell too slow) before the whole answer left; `bytes` is what did. */
  status: 'OK' | 'ERROR' | 'ABORTED'
  code: string | null
}

/**
 * The server's structured logger: JSON lines on the given file descriptor (stdout by default),
 * written asynchronously so a slow terminal does not slow the server.
 */
export function createLogger(options: {level?: LogLevel; fd?: number; sync?: boolean} = {}): Logger {
  return pino(
    {level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime},
    pino.destination({dest: options.fd ?? 1, sync: options.sync ?? false}),
  )
}

/** A logger that writes nothing, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({level: 'silent'})
}

/** Writes the one line per request. */
export function logRequest(logger: Logger, entry: RequestLogEntry): void {
  const line = {...entry, durationMs: Math.round(entry.durationMs * 10) / 10}
  if (entry.status === 'OK' || entry.code !== 'E_INTERNAL') logger.info(line, 'request')
  else logger.error(line, 'request')
}
