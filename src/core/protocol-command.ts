import {Command, Flags, type Interfaces} from '@oclif/core'

import {accessClientFlags} from './access/flags.js'
import {describeFailure, type Failure} from './client-failure.js'
import {errors, ExitCode, UnsupportedCommandError} from './errors.js'
import {DEFAULT_MAX_SIZE, DEFAULT_PORT} from './config.js'
import {unknownFlagMessage} from './did-you-mean.js'
import {currentLane, type LaneObserver, performInLanes} from './batch/lanes.js'
import {clearProgressLine} from './batch/progress-line.js'
import {printable} from './printable.js'
import {parseWithProfile, type ProfileFlag, profileFlags} from './profiles.js'
import {type Message, PROTOCOL_VERSION} from './protocol/message.js'
import type {PickleValue} from './protocol/values.js'
import {transferProgress} from './transfer-progress.js'
import {
  type ClientConnection,
  ConnectionError,
  type FileDataSink,
  formatAddress,
  isConnectionError,
  type OutgoingFileData,
} from './transport/client-connection.js'
import {safeJsonStringify} from './safe-json.js'
import {connectClient, tlsClientFlags} from './tls/client-flags.js'

export {ExitCode, UnsupportedCommandError, UsageError} from './errors.js'

/** The flags and args of a command class that extends ProtocolCommand, as `this.flags` and `this.args` type them. */
export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof ProtocolCommand)['baseFlags'] & T['flags']
>
/** The parsed arguments of a command class `T` (`this.args`). */
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/** A request as a protocol command writes it; STATUS, VERSION and the other seed keys are filled in. */
export interface ProtocolRequest {
  COMMAND: string
  FILENAME?: string | null
  DETAILS?: string | string[] | null
  /** Extension keys; VERSION = 1 is always added. */
  extra?: Record<string, PickleValue>
  /** Keys after FILE_DATA, as placeholders of their final length (see OutgoingFileData.trailer). */
  trailing?: Record<string, PickleValue>
}

/** How {@link ProtocolCommand.request} moves FILE_DATA: what it uploads, where a response's goes, the progress label. */
export interface ProtocolRequestOptions {
  /** The request's FILE_DATA, streamed from `stream` (exactly `length` bytes). */
  fileData?: OutgoingFileData
  /** Where the response's FILE_DATA goes as it arrives. Without one it is dropped. */
  sink?: FileDataSink
  /** Label of the progress bar shown for transfers over about 1 MiB on a terminal. */
  label?: string
}

/**
 * The per-item part of every client command's --json result (README, "JSON output"): `ok` once the item is
 * complete, `identical` when already stored with the same content, `error` with where it was found, its code
 * and message, `skipped` when it was never attempted (a whole-command failure came first).
 */
export interface ItemResult {
  status: 'ok' | 'identical' | 'error' | 'skipped'
  source: 'local' | 'server' | 'connection' | null
  code: string | null
  message: string | null
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
      default: 'auto' as const,
      helpGroup: 'CONNECTION',
      options: ['auto', 'big', 'little'] as const,
      summary:
        'Byte order of the 4-byte frame length: auto understands iss servers and seed servers of either order; big or little forces one.',
    })(),
    ...profileFlags,
    ...accessClientFlags,
    ...tlsClientFlags,
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
  /** The connection of requests made outside a parallel batch's lanes (each lane has its own). */
  private readonly home: {connection?: ClientConnection} = {}
  private worstExitCode = 0
  /** Set when the server refused our token or its scope: every later item would be refused the same way. */
  private accessRefusal: string | undefined
  /** True while a request has been sent whole and no byte of its answer has been seen. */
  private silentAfterRequest = false

  /** host:port of the server these flags name. */
  protected get address(): string {
    return formatAddress(this.flags.host, this.flags.port)
  }

  /** The open connection, or a new one when there is none or the last one can no longer be used. */
  protected async connect(): Promise<ClientConnection> {
    const slot = currentLane() ?? this.home
    if (slot.connection?.usable) return slot.connection
    // A peer that broke the protocol is not given a second chance on a new connection.
    const previous = slot.connection?.failureReason
    if (isConnectionError(previous) && previous.kind === 'protocol' && !isSizeRefusal(previous)) throw previous
    slot.connection?.close()
    slot.connection = await connectClient(this.flags, this.config.configDir, {
      byteOrder: this.flags['frame-endian'],
      host: this.flags.host,
      maxSize: this.maxSize,
      port: this.flags.port,
      timeoutMs: this.flags.timeout * 1000,
    })
    return slot.connection
  }

  /**
   * Sends one request (adding STATUS REQUEST and VERSION 1) and returns the response, OK or ERROR.
   * FILE_DATA streams both ways; a progress bar shows on a terminal. Throws UnsupportedCommandError when the
   * server lacks the command, and ConnectionError when the connection or the protocol fails.
   */
  protected async request(message: ProtocolRequest, options: ProtocolRequestOptions = {}): Promise<Message> {
    const connection = await this.connect()
    const lane = currentLane()
    const progress = transferProgress(
      printable(options.label ?? message.COMMAND, 60),
      !this.jsonEnabled() && lane === undefined,
    )
    // Whether the whole request went out and nothing of an answer came back, for the hint after a timeout.
    const uploadLength = options.fileData?.length ?? 0
    let uploaded = uploadLength === 0
    let answered = false
    const track = () => {
      this.silentAfterRequest = uploaded && !answered
    }
    const observer = {
      start(total: number) {
        if (uploaded) answered = true
        track()
        lane?.started?.(total)
        progress.start(total)
      },
      update(done: number) {
        if (!uploaded && done === uploadLength) uploaded = true
        else if (uploaded) answered = true
        track()
        lane?.moved?.(done)
        progress.update(done)
      },
    }
    track()
    try {
      const response = await connection.request(
        {
          COMMAND: message.COMMAND,
          STATUS: 'REQUEST',
          DETAILS: message.DETAILS ?? null,
          FILENAME: message.FILENAME ?? null,
          FILE_DATA: null,
          extra: {...message.extra, VERSION: BigInt(PROTOCOL_VERSION), ...tokenKey(this.flags.token)},
          ...(message.trailing !== undefined && {trailing: message.trailing}),
        },
        {fileData: options.fileData, observer, sink: options.sink},
      )
      this.silentAfterRequest = false
      if (response.STATUS === 'ERROR' && response.CODE === 'E_UNKNOWN_COMMAND') {
        throw new UnsupportedCommandError(message.COMMAND, response.COMMANDS ?? [], connection.address)
      }
      // A TLS port answers a clear-text peer before reading it (so with the seed's five keys, no CODE):
      // a connection problem of ours (exit 3), like a TLS client on a plain port, not an item's refusal.
      if (response.STATUS === 'ERROR' && response.DETAILS === errors.tlsRequired().message) {
        throw new ConnectionError('protocol', connection.address, `${connection.address}: ${response.DETAILS}`)
      }
      return response
    } finally {
      progress.stop()
    }
  }

  /**
   * Runs `perform` for each item still `skipped` (not yet attempted), in order; `perform` sets `ok` (or calls
   * {@link itemFailed}). When a whole-command failure interrupts an item, that item becomes an error with its
   * cause and the failure goes on to end the command; items after it stay `skipped`. So a --json `partial`
   * result never calls an item `ok` that is not complete. With `lanes`, up to `lanes.count` items run at once,
   * each lane on a connection of its own (the items in flight finish before a whole-command failure ends it).
   */
  protected async performEach<R extends ItemResult>(
    results: R[],
    perform: (result: R) => Promise<void>,
    lanes?: {count: number; observer?: LaneObserver<R>},
  ): Promise<void> {
    this.partialResult ??= {results}
    const interrupted = (result: R, error: unknown) => {
      const failure = this.failureOf(error)
      if (failure !== undefined) {
        Object.assign(result, {status: 'error', source: failure.source, code: failure.code, message: failure.message})
      }
    }
    try {
      if (lanes !== undefined) {
        const pending = results.filter((result) => result.status === 'skipped')
        await performInLanes(pending, lanes.count, perform, interrupted, lanes.observer, () => this.refused())
        return
      }
      for (const result of results) {
        if (result.status !== 'skipped') continue
        if (this.refused()) break
        try {
          await perform(result)
        } catch (error) {
          interrupted(result, error)
          throw error
        }
      }
    } finally {
      this.sayWhatWasNotSent(results)
    }
  }

  /** True once the server refused our token or its scope (the rest of the items are not sent). */
  private refused(): boolean {
    return this.accessRefusal !== undefined
  }

  /**
   * After an access refusal, one line for the items left unsent: a server that slows down failed tokens
   * (E_UNAUTHORIZED) would otherwise make a batch of hundreds crawl for minutes to the same answer.
   */
  private sayWhatWasNotSent(results: readonly ItemResult[]): void {
    const unsent = results.filter((result) => result.status === 'skipped').length
    if (this.accessRefusal === undefined || unsent === 0 || this.jsonEnabled()) return
    clearProgressLine()
    const items = unsent === 1 ? '1 more item was' : `${unsent} more items were`
    process.stderr.write(
      `${this.config.bin}: ${items} not sent, as the server refused access (${this.accessRefusal})\n`,
    )
  }

  /**
   * Marks one item failed, keeps its exit code and prints `LABEL: message` on stderr (not with --json). The
   * message may come from the server: it is shown through printable().
   */
  protected itemFailed(
    result: ItemResult,
    label: string,
    failure: {source: 'local' | 'server' | 'connection'; code: string | null; message: string; exitCode: number},
  ): void {
    Object.assign(result, {status: 'error', source: failure.source, code: failure.code, message: failure.message})
    this.recordExitCode(failure.exitCode)
    if (failure.source === 'server' && (failure.code === 'E_UNAUTHORIZED' || failure.code === 'E_FORBIDDEN')) {
      this.accessRefusal ??= failure.code
    }
    clearProgressLine()
    if (!this.jsonEnabled()) process.stderr.write(`${printable(label)}: ${printable(failure.message, 2000)}\n`)
  }

  /** One line on stdout for a person (not with --json), with any text from the server made printable. */
  protected say(line: string): void {
    clearProgressLine()
    if (!this.jsonEnabled()) this.log(printable(line, 2000))
  }

  /** Keeps the highest exit code seen for the items of this run; it becomes the process's exit code. */
  protected recordExitCode(code: number): void {
    this.worstExitCode = Math.max(this.worstExitCode, code)
    process.exitCode = this.worstExitCode
  }

  /**
   * Parses flags and arguments (oclif's life cycle).
   *
   * @internal
   */
  protected override async init(): Promise<void> {
    await super.init()
    const ctor = this.ctor as T & typeof ProtocolCommand
    const options = {
      args: ctor.args,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      flags: ctor.flags,
      strict: ctor.strict,
    }
    const baseFlags = ctor.baseFlags as unknown as Record<string, ProfileFlag>
    const {args, argv, flags} = await parseWithProfile(this.config.configDir, baseFlags, this.argv, async (argv) =>
      this.parse(options, argv),
    )
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    this.argList = argv.map(String)
  }

  /**
   * Turns a failure into one line and an exit code (oclif's life cycle).
   *
   * @internal
   */
  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    const ctor = this.ctor as T & typeof ProtocolCommand
    const allFlags = {...ctor.baseFlags, ...ctor.flags, json: {}}
    const typo = unknownFlagMessage(error, this.config.bin, this.id ?? '', allFlags)
    if (typo !== undefined) {
      process.stderr.write(typo + '\n')
      this.exit(ExitCode.LOCAL_ERROR)
    }

    const failure = this.failureOf(error)
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

  /**
   * Closes the connection (oclif's life cycle).
   *
   * @internal
   */
  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.home.connection?.close()
    this.home.connection = undefined
    return super.finally(error)
  }

  /**
   * Plain JSON, never coloured, so that JSON.parse accepts it on a terminal too; C1 and bidi controls from the
   * server are escaped as well as C0 (safeJsonStringify).
   */
  protected override logJson(json: unknown): void {
    process.stdout.write(safeJsonStringify(json, 2) + '\n')
  }

  /** The largest FILE_DATA a response may carry: --max-size when the command has it. */
  private get maxSize(): number {
    return (this.flags as {'max-size'?: number})['max-size'] ?? this.defaultMaxSize
  }

  /** The one line, code and exit code for a failure of ours; undefined for oclif's own. */
  protected failureOf(error: unknown): Failure | undefined {
    return describeFailure(error, {
      byteOrder: this.flags?.['frame-endian'] ?? 'auto',
      hasMaxSizeFlag: (this.flags as {'max-size'?: number} | undefined)?.['max-size'] !== undefined,
      maxSize: this.flags === undefined ? this.defaultMaxSize : this.maxSize,
      silentAfterRequest: this.silentAfterRequest,
    })
  }
}

/** The TOKEN key of every request when a token is given; the encoder puts it before FILE_DATA. */
function tokenKey(token: string | undefined): {TOKEN?: string} {
  return token === undefined || token === '' ? {} : {TOKEN: token}
}

/** A response refused for its size by this client: the server is fine, a new connection may go on. */
function isSizeRefusal(error: unknown): boolean {
  const cause = (error as {cause?: {code?: unknown; message?: unknown}}).cause
  return cause?.code === 'E_TOO_LARGE' && typeof cause.message === 'string' && !cause.message.startsWith('Frame')
}
