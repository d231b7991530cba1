import {Command, Flags, type Interfaces} from '@oclif/core'

import {DEFAULT_MAX_SIZE, DEFAULT_PORT} from './config.js'
import {isIssError} from './errors.js'
import {type Message, PROTOCOL_VERSION} from './protocol/message.js'
import type {PickleValue} from './protocol/values.js'
import {transferProgress} from './transfer-progress.js'
import {
  ClientConnection,
  type FileDataSink,
  formatAddress,
  isConnectionError,
  type OutgoingFileData,
} from './transport/client-connection.js'

/** Exit codes of every client command (DESIGN.md). */
export const ExitCode = {
  OK: 0,
  /** The server answered ERROR for at least one item. */
  SERVER_ERROR: 1,
  /** Usage or local validation error. */
  LOCAL_ERROR: 2,
  /** Connection or protocol failure. */
  CONNECTION: 3,
} as const

/** The flags and args of a command class that extends ProtocolCommand, as `this.flags` and `this.args` type them. */
export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof ProtocolCommand)['baseFlags'] & T['flags']
>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** A request as a protocol command writes it; STATUS, VERSION and the other seed keys are filled in. */
export interface ProtocolRequest {
  COMMAND: string
  FILENAME?: string | null
  DETAILS?: string | string[] | null
  /** Extension keys; VERSION = 1 is always added. */
  extra?: Record<string, PickleValue>
}

export interface ProtocolRequestOptions {
  /** The request's FILE_DATA, streamed from `stream` (exactly `length` bytes). */
  fileData?: OutgoingFileData
  /** Where the response's FILE_DATA goes as it arrives. Without one it is dropped. */
  sink?: FileDataSink
  /** Label of the progress bar shown for transfers over about 1 MiB on a terminal. */
  label?: string
}

/** A usage or local validation failure: one line, exit 2. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.LOCAL_ERROR
  constructor(
    message: string,
    readonly code = 'E_USAGE',
  ) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The server has no handler for a command (E_UNKNOWN_COMMAND): nothing the client can retry. Exit 1. */
export class UnsupportedCommandError extends Error {
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style -- an own property, like UsageError's code, so it shows in JSON and spreads
  readonly code = 'E_UNKNOWN_COMMAND'
  readonly exitCode = ExitCode.SERVER_ERROR
  constructor(
    readonly command: string,
    readonly served: readonly string[],
    readonly address: string,
  ) {
    const list = served.length > 0 ? `; it serves ${[...served].sort().join(', ')}` : ''
    super(
      `the server at ${address} does not support ${command}${list}. ` +
        `Install the plugin that provides ${command} where the server runs.`,
    )
    this.name = 'UnsupportedCommandError'
  }
}

interface Failure {
  code: string
  message: string
  exitCode: number
}

/**
 * The base class of every client command that talks to a server, built-in or from a plugin. It brings the
 * connection flags (--host/-H, --port/-p, --timeout, --frame-endian, and oclif's --json), `this.flags` and
 * `this.args` parsed, one connection per command run (`connect`, `request`), and the one mapping of
 * failures to a single line and an exit code.
 *
 * A subclass declares its own `static flags` and `args`; a flag named `max-size` (bytes), or else
 * `defaultMaxSize`, bounds what responses may carry. Item results set the exit code with `recordExitCode`; whole-command failures are
 * thrown (ConnectionError, UsageError, UnsupportedCommandError, IssError) and reported here.
 */
export abstract class ProtocolCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    host: Flags.string({
      char: 'H',
      default: '127.0.0.1',
      env: 'ISS_HOST',
      helpGroup: 'CONNECTION',
      summary: 'Server host name or address.',
    }),
    port: Flags.integer({
      char: 'p',
      default: DEFAULT_PORT,
      env: 'ISS_PORT',
      helpGroup: 'CONNECTION',
      max: 65_535,
      min: 1,
      summary: 'Server TCP port.',
    }),
    timeout: Flags.integer({
      default: 30,
      helpGroup: 'CONNECTION',
      min: 1,
      summary: 'Seconds to wait for the connection, and for any byte while a request is in flight.',
    }),
    'frame-endian': Flags.option({
      default: 'big' as const,
      helpGroup: 'CONNECTION',
      options: ['big', 'little'] as const,
      summary: 'Byte order of the 4-byte frame length (little for a seed server on a little-endian machine).',
    })(),
  }

  static override enableJsonFlag = true

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  /** Every positional argument, for commands with `static strict = false` (NAME...). */
  protected argList!: string[]
  /**
   * Largest FILE_DATA a response may carry when the command has no --max-size flag; the frame limit derives
   * from it. A command whose responses carry no image lowers it, so a hostile peer cannot make it buffer much.
   */
  protected defaultMaxSize = DEFAULT_MAX_SIZE
  /** Shown under `partial` in the --json error object when a command fails midway. */
  protected partialResult: unknown
  private connection: ClientConnection | undefined
  private worstExitCode = 0

  /** host:port of the server these flags name. */
  protected get address(): string {
    return formatAddress(this.flags.host, this.flags.port)
  }

  /** The open connection, or a new one when there is none or the last one can no longer be used. */
  protected async connect(): Promise<ClientConnection> {
    if (this.connection?.usable) return this.connection
    // A peer that broke the protocol is not given a second chance on a new connection.
    const previous = this.connection?.failureReason
    if (isConnectionError(previous) && previous.kind === 'protocol') throw previous
    this.connection?.close()
    const maxSize = (this.flags as {'max-size'?: number})['max-size'] ?? this.defaultMaxSize
    this.connection = await ClientConnection.connect({
      byteOrder: this.flags['frame-endian'],
      host: this.flags.host,
      maxSize,
      port: this.flags.port,
      timeoutMs: this.flags.timeout * 1000,
    })
    return this.connection
  }

  /**
   * Sends one request (adding STATUS REQUEST and VERSION 1) and returns the response, OK or ERROR.
   * FILE_DATA streams both ways; a progress bar shows on a terminal. Throws UnsupportedCommandError when the
   * server lacks the command, and ConnectionError when the connection or the protocol fails.
   */
  protected async request(message: ProtocolRequest, options: ProtocolRequestOptions = {}): Promise<Message> {
    const connection = await this.connect()
    const progress = transferProgress(options.label ?? message.COMMAND, !this.jsonEnabled())
    try {
      const response = await connection.request(
        {
          COMMAND: message.COMMAND,
          STATUS: 'REQUEST',
          DETAILS: message.DETAILS ?? null,
          FILENAME: message.FILENAME ?? null,
          FILE_DATA: null,
          extra: {...message.extra, VERSION: BigInt(PROTOCOL_VERSION)},
        },
        {fileData: options.fileData, observer: progress, sink: options.sink},
      )
      if (response.STATUS === 'ERROR' && response.CODE === 'E_UNKNOWN_COMMAND') {
        throw new UnsupportedCommandError(message.COMMAND, response.COMMANDS ?? [], connection.address)
      }
      return response
    } finally {
      progress.stop()
    }
  }

  /** Keeps the highest exit code seen for the items of this run; it becomes the process's exit code. */
  protected recordExitCode(code: number): void {
    this.worstExitCode = Math.max(this.worstExitCode, code)
    process.exitCode = this.worstExitCode
  }

  protected override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as T & typeof ProtocolCommand
    const {args, argv, flags} = await this.parse({
      args: ctor.args,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      flags: ctor.flags,
      strict: ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    this.argList = argv.map(String)
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    const failure = describeFailure(error)
    if (failure === undefined) return super.catch(error)
    if (this.jsonEnabled()) {
      const body: Record<string, unknown> = {error: failure}
      if (this.partialResult !== undefined) body.partial = this.partialResult
      this.logJson(body)
    } else {
      process.stderr.write(`iss: ${failure.message}\n`)
    }
    this.exit(Math.max(failure.exitCode, this.worstExitCode))
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.connection?.close()
    this.connection = undefined
    return super.finally(error)
  }

  /** Plain JSON, never coloured, so that JSON.parse accepts it on a terminal too. */
  protected override logJson(json: unknown): void {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  }
}

/** The one line and exit code for a failure of ours; undefined for oclif's own (parse errors, exits). */
function describeFailure(error: unknown): Failure | undefined {
  if (isConnectionError(error)) {
    return {code: error.code, exitCode: ExitCode.CONNECTION, message: `${error.message} (${error.hint})`}
  }
  // By code, not instanceof: a plugin may have been handed another copy of this module.
  const coded = error as {code?: unknown; exitCode?: unknown}
  if (error instanceof Error && (coded.code === 'E_USAGE' || coded.code === 'E_UNKNOWN_COMMAND')) {
    return {code: coded.code, exitCode: Number(coded.exitCode ?? ExitCode.LOCAL_ERROR), message: error.message}
  }
  if (isIssError(error)) return {code: error.code, exitCode: ExitCode.LOCAL_ERROR, message: error.message}
  const system = error as NodeJS.ErrnoException
  if (error instanceof Error && typeof system.code === 'string' && typeof system.syscall === 'string') {
    return {code: system.code, exitCode: ExitCode.LOCAL_ERROR, message: error.message}
  }
  return undefined
}
