import {isatty} from 'node:tty'
import pino, {type DestinationStream, type Logger} from 'pino'
import type PinoPretty from 'pino-pretty'

import {printable} from './printable.js'
import {escapeJsonText} from './safe-json.js'

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
  /** More fields for the line (the token's name, never its secret). */
  fields?: Readonly<Record<string, string | null>>
}

export interface LoggerOptions {
  level?: LogLevel
  /** File descriptor to write to; stdout by default. */
  fd?: number
  sync?: boolean
  /**
   * Readable lines instead of JSON. Default: when `fd` is a terminal, so a person starting the server sees
   * lines, and a pipe or a file gets one JSON object per line.
   */
  pretty?: boolean
}

/**
 * The server's structured logger: JSON lines on the given file descriptor (stdout by default), written
 * asynchronously so a slow terminal does not slow the server; readable lines on a terminal. Peers choose
 * the filenames that get logged, so every line is escaped (C1 and bidi controls too, not only what
 * JSON.stringify escapes) before it reaches the terminal or the log file.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fd = options.fd ?? 1
  const sync = options.sync ?? false
  const pretty = options.pretty ?? isatty(fd)
  const settings = {level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.isoTime}
  if (pretty) return pino(settings, prettyStream(fd, sync))
  return pino({...settings, hooks: {streamWrite: escapeJsonText}}, pino.destination({dest: fd, sync}))
}

/** A logger that writes nothing, for tests and embedding. */
export function silentLogger(): Logger {
  return pino({level: 'silent'})
}

/** Writes the one line per request. */
export function logRequest(logger: Logger, entry: RequestLogEntry): void {
  const {fields, ...known} = entry
  const line = {...known, ...fields, durationMs: Math.round(entry.durationMs * 10) / 10}
  if (entry.status === 'OK' || entry.code !== 'E_INTERNAL') logger.info(line, 'request')
  else logger.error(line, 'request')
}

/**
 * One line per record, `HH:MM:ss.l LEVEL msg key=value ...`, every value through printable(). Loaded only
 * on a terminal; it runs in this thread (no transport worker), as the server's own output does.
 */
function prettyStream(fd: number, sync: boolean): DestinationStream {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when stdout is a terminal
  const pretty = require('pino-pretty') as typeof PinoPretty
  return pretty.build({
    colorize: process.env.NO_COLOR === undefined && process.env.FORCE_COLOR !== '0',
    destination: pino.destination({dest: fd, sync}),
    hideObject: true,
    ignore: 'pid,hostname',
    messageFormat(log, messageKey) {
      const fields = Object.entries(log)
        .filter(([key]) => key !== messageKey && key !== 'level' && key !== 'time')
        .map(([key, value]) => `${key}=${printable(typeof value === 'string' ? value : JSON.stringify(value))}`)
      const message = log[messageKey]
      return [printable(typeof message === 'string' ? message : ''), ...fields].join(' ')
    },
    translateTime: 'SYS:HH:MM:ss.l',
  })
}
