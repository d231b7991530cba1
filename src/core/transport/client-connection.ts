import {once} from 'node:events'
import type {Socket} from 'node:net'
import type {Readable} from 'node:stream'

import {maxFrameBytes} from '../config.js'
import {answerClosesConnection, isIssError} from '../errors.js'
import type {ByteOrder} from '../protocol/frame-header.js'
import type {Message} from '../protocol/message.js'
import {MessageReader, type ReaderEvent} from '../protocol/message-reader.js'
import {encodeFrame, encodeStreamingFrame, type OutgoingMessage} from '../protocol/message-writer.js'
import type {PickleLimits} from '../protocol/pickle-decoder.js'
import type {PickleKey, PickleValue} from '../protocol/values.js'
import {CLIENT_MIN_RATE, CLIENT_PICKLE_LIMITS, requestDeadlineMs} from './client-limits.js'
import {largeChunks} from './large-chunks.js'
import {type ClientSocketFactory, tcpClientFactory} from './socket-factory.js'

export {CLIENT_MIN_RATE, CLIENT_PICKLE_LIMITS, requestDeadlineMs} from './client-limits.js'

/** Bytes asked of a FILE_DATA stream per read: a file stream then reads this much at a time. */
const SEND_CHUNK = 1024 * 1024
/** Bytes queued on the socket before a request's writer waits for it to drain. */
const SEND_QUEUE = 1024 * 1024

/** How a client connection failed, for the one line a user sees and for `--json`. */
export type ConnectionFailure =
  'refused' | 'timeout' | 'reset' | 'closed' | 'unresolved' | 'unreachable' | 'protocol' | 'failed'

const HINTS: Record<ConnectionFailure, string> = {
  refused: 'is `iss serve` running there? Check --host and --port (or ISS_HOST and ISS_PORT)',
  timeout: 'the server did not answer in time; check the address, or raise --timeout',
  reset: 'the server dropped the connection; it may have stopped or refused the request',
  closed: 'the server closed the connection before answering; it may have stopped, or may not speak the iss protocol',
  unresolved: 'check the host name given with --host (or ISS_HOST)',
  unreachable: 'check the network and the address given with --host (or ISS_HOST)',
  protocol: 'is it an iss or seed image server?',
  failed: 'check the address given with --host and --port',
}

/**
 * A connection or protocol failure talking to a server: refused, timed out, reset, closed early, or a
 * peer that does not speak the protocol. Always names the server's host:port.
 */
export class ConnectionError extends Error {
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style -- an own enumerable field, so it shows in JSON and spreads of the error
  readonly code = 'E_CONNECTION'
  readonly hint: string

  constructor(
    readonly kind: ConnectionFailure,
    /** host:port of the server. */
    readonly address: string,
    message: string,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
    this.name = 'ConnectionError'
    this.hint = HINTS[kind]
  }
}

/** True for a ConnectionError from any copy of this module. */
export function isConnectionError(error: unknown): error is ConnectionError {
  return error instanceof Error && (error as {code?: unknown}).code === 'E_CONNECTION' && 'kind' in error
}

/** Where the FILE_DATA of a response goes, chunk by chunk, as it arrives. A returned promise is awaited. */
/** Where a response's FILE_DATA goes as it arrives, chunk by chunk (a returned promise is awaited: backpressure). */
export interface FileDataSink {
  /** Takes the next chunk of FILE_DATA. */
  write(chunk: Buffer): Promise<void> | void
  /**
   * Called once before the first chunk with the answer's keys decoded before FILE_DATA (a GET's SHA256
   * and OFFSET), so the sink can verify as it writes or start over. Throwing fails the request.
   */
  begin?(head: ReadonlyMap<PickleKey, PickleValue>, length: number): void
}

/** A request's FILE_DATA sent from a stream of known length (for example fs.createReadStream). */
export interface OutgoingFileData {
  readonly length: number
  readonly stream: Readable
  /**
   * Keys to write after FILE_DATA, asked for once the last byte has gone out (a digest computed while
   * sending). Each value must encode to the same length as the message's `trailing` placeholder, which
   * fixed the frame length before the first byte was sent.
   */
  readonly trailer?: () => Record<string, PickleValue>
}

/** Progress callbacks of one request: bytes of FILE_DATA sent or received. */
export interface TransferObserver {
  /** The total is known: the request's FILE_DATA length, or the announced length of the response's. */
  start?(total: number): void
  update?(done: number): void
}

/** Per-request options of {@link ClientConnection.request}: FILE_DATA to stream up, where a response's goes, a progress observer. */
export interface ClientRequestOptions {
  /** Stream this as the request's FILE_DATA (the message's FILE_DATA must then be null). */
  fileData?: OutgoingFileData
  /** Receives the response's FILE_DATA; without a sink it is counted and dropped. */
  sink?: FileDataSink
  observer?: TransferObserver
}

/**
 * Where and how {@link ClientConnection.connect} connects: `host`, `port`, `timeoutMs` (per read or write
 * step, in ms), `byteOrder` of frame headers, `maxSize` (largest response FILE_DATA accepted, bytes).
 */
export interface ClientConnectionOptions {
  host: string
  port: number
  /** Where the socket comes from (plain TCP by default; TLS is another factory). */
  socketFactory?: ClientSocketFactory
  /**
   * Connect timeout, and the longest time without any byte moving while a request is in flight; a whole
   * request gets this plus one second per CLIENT_MIN_RATE bytes of FILE_DATA (requestDeadlineMs).
   */
  timeoutMs: number
  /**
   * Byte order of the frame headers we send and expect back. 'auto': the first request's frame is padded
   * to a length that reads the same in both orders (encodeFrame's `orderFree`), the answer's order is
   * detected, and later requests use it; so a seed server that reads little-endian lengths (the seed's
   * native `struct.pack('I')` on x86 and ARM) and an iss server both understand us, at a cost of at most
   * 64 KiB on a connection's first request.
   */
  byteOrder: ByteOrder | 'auto'
  /** Largest FILE_DATA accepted in a response; the frame limit derives from it. */
  maxSize: number
  /** Decoder limits for the answers, over CLIENT_PICKLE_LIMITS. */
  limits?: Partial<PickleLimits>
}

interface PendingRequest {
  readonly resolve: (message: Message) => void
  readonly reject: (error: unknown) => void
  readonly sink?: FileDataSink
  readonly observer?: TransferObserver
  received: number
  settled: boolean
  /** When the request started, and the FILE_DATA bytes its deadline allows for (sent and announced). */
  readonly started: number
  deadlineBytes: number
  deadline?: NodeJS.Timeout
}

/**
 * One TCP connection to an iss (or seed) server: sends request frames, streaming FILE_DATA from disk with
 * backpressure, and reads each response, streaming its FILE_DATA into the caller's sink. One request at a
 * time. Knows nothing of images or commands.
 */
export class ClientConnection {
  readonly address: string
  private readonly reader: MessageReader
  private pending: PendingRequest | undefined
  private failure: unknown
  private readonly failed: Promise<never>
  private markFailed!: (error: unknown) => void
  /** Reading is serialised: the socket is paused while a chunk's events wait (for a sink write). */
  private consuming: Promise<void> = Promise.resolve()
  /** A chunk's events are waiting: later data queues behind them, in the backlog. */
  private waiting = false
  private readonly backlog: Buffer[] = []
  /** Set when a frame was cut short on our side: the byte stream is out of step, no further request. */
  private outOfStep = false

  private constructor(
    private readonly socket: Socket,
    private readonly options: ClientConnectionOptions,
  ) {
    this.address = formatAddress(options.host, options.port)
    this.reader = new MessageReader({
      byteOrder: options.byteOrder === 'auto' ? 'detect' : options.byteOrder,
      maxFrameBytes: maxFrameBytes(options.maxSize),
      maxStreamBytes: options.maxSize,
      limits: {...CLIENT_PICKLE_LIMITS, ...options.limits},
    })
    this.failed = new Promise<never>((_, reject) => {
      this.markFailed = reject
    })
    // eslint-disable-next-line @typescript-eslint/no-empty-function -- only marks the rejection handled; request() and send() observe it
    this.failed.catch(() => {})
    socket.setNoDelay(true)
    socket.setTimeout(options.timeoutMs)
    socket.on('timeout', () =>
      this.fail(
        new ConnectionError('timeout', this.address, `no data from ${this.address} for ${options.timeoutMs / 1000} s`),
      ),
    )
    // After any data already received has been handled: a peer may answer and close at once.
    const later = (error: unknown) => {
      this.consuming = this.consuming.then(() => this.fail(error))
    }
    socket.on('error', (error) => later(socketError(error, this.address)))
    socket.on('end', () => later(new ConnectionError('closed', this.address, `${this.address} closed the connection`)))
    socket.on('close', () =>
      later(new ConnectionError('closed', this.address, `${this.address} closed the connection`)),
    )
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk)
    })
  }

  /** Opens a connection, failing with a ConnectionError after `timeoutMs`. */
  static async connect(options: ClientConnectionOptions): Promise<ClientConnection> {
    const address = formatAddress(options.host, options.port)
    return new Promise((resolve, reject) => {
      const factory = options.socketFactory ?? tcpClientFactory
      const socket = factory.connect({host: options.host, port: options.port})
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          new ConnectionError(
            'timeout',
            address,
            `cannot connect to ${address}: no answer within ${options.timeoutMs / 1000} s`,
          ),
        )
      }, options.timeoutMs)
      socket.once('error', (error) => {
        clearTimeout(timer)
        reject(factory.describeError?.(error, address) ?? socketError(error, address, 'cannot connect to '))
      })
      socket.once(factory.readyEvent ?? 'connect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        resolve(new ClientConnection(socket, options))
      })
    })
  }

  /** Why the connection ended, if it did. */
  get failureReason(): unknown {
    return this.failure
  }

  /** False once the connection failed, closed, or can no longer carry a request. */
  get usable(): boolean {
    return this.failure === undefined && !this.outOfStep && !this.socket.destroyed
  }

  /**
   * Sends one request and resolves with the server's response (OK or ERROR alike). Rejects with a
   * ConnectionError when the connection fails or the peer breaks the protocol, and with the sink's error
   * when the sink fails; after either the connection is closed.
   */
  async request(message: OutgoingMessage, options: ClientRequestOptions = {}): Promise<Message> {
    if (this.pending !== undefined) throw new Error('ClientConnection: one request at a time')
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the connection's recorded failure unchanged
    if (!this.usable) throw this.failure ?? new ConnectionError('closed', this.address, `${this.address} is closed`)
    const response = new Promise<Message>((resolve, reject) => {
      this.pending = {
        resolve,
        reject,
        sink: options.sink,
        observer: options.observer,
        received: 0,
        settled: false,
        started: Date.now(),
        deadlineBytes: options.fileData?.length ?? 0,
      }
    })
    // eslint-disable-next-line @typescript-eslint/no-empty-function -- only marks the rejection handled; it is awaited below
    response.catch(() => {})
    const pending = this.pending!
    this.armDeadline(pending)
    try {
      if (options.fileData === undefined) {
        await this.send(encodeFrame(message, this.frameOptions()))
      } else {
        await this.sendStreaming(message, options.fileData, pending)
      }
    } catch (error) {
      this.fail(error)
    }
    try {
      return await response
    } finally {
      clearTimeout(pending.deadline)
      if (this.pending === pending) this.pending = undefined
      if (this.outOfStep) this.close()
    }
  }

  /**
   * (Re)sets the request's overall deadline: --timeout plus the time its FILE_DATA may take at
   * CLIENT_MIN_RATE, counted from the request's start. A trickling server then cannot hold it forever.
   */
  private armDeadline(pending: PendingRequest): void {
    clearTimeout(pending.deadline)
    const allowed = requestDeadlineMs(this.options.timeoutMs, pending.deadlineBytes)
    const left = Math.max(0, pending.started + allowed - Date.now())
    pending.deadline = setTimeout(() => {
      if (pending.settled) return
      this.fail(
        new ConnectionError(
          'timeout',
          this.address,
          `${this.address} did not complete the request within ${Math.ceil(allowed / 1000)} s ` +
            `(--timeout plus 1 s per ${CLIENT_MIN_RATE / 1024} KiB of image data)`,
        ),
      )
    }, left)
  }

  /**
   * How the next request's frame is written: in the given order, or with 'auto' in the order the server's
   * answers showed, and order-free until an answer has shown one.
   */
  private frameOptions(): {byteOrder: ByteOrder; orderFree: boolean} {
    if (this.options.byteOrder !== 'auto') return {byteOrder: this.options.byteOrder, orderFree: false}
    const shown = this.reader.byteOrder
    return {byteOrder: shown ?? 'big', orderFree: shown === undefined}
  }

  /** Closes the connection; a request in flight fails. */
  close(): void {
    this.fail(new ConnectionError('closed', this.address, `connection to ${this.address} closed`))
  }

  private async sendStreaming(message: OutgoingMessage, fileData: OutgoingFileData, pending: PendingRequest) {
    const options = this.frameOptions()
    const {head, tail} = encodeStreamingFrame(message, fileData.length, options)
    const {stream, length} = fileData
    pending.observer?.start?.(length)
    await this.send(head)
    let sent = 0
    try {
      for await (const data of largeChunks(stream, SEND_CHUNK)) {
        // The server may answer (ERROR) before it has read everything: stop, the frame is then incomplete.
        if (pending.settled || this.failure !== undefined) break
        let chunk = data
        if (sent + chunk.length > length) chunk = chunk.subarray(0, length - sent)
        await this.send(chunk)
        sent += chunk.length
        pending.observer?.update?.(sent)
        if (sent === length) break
      }
    } finally {
      stream.destroy()
    }
    if (sent < length) {
      this.outOfStep = true
      if (pending.settled || this.failure !== undefined) return
      throw new Error(`the file shrank while it was being sent (${sent} of ${length} bytes)`)
    }
    await this.send(fileData.trailer === undefined ? tail : finalTail(message, fileData, options, tail.length))
  }

  private async send(chunk: Buffer): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the connection's recorded failure unchanged
    if (this.failure !== undefined) throw this.failure
    // Queue past the socket's small high-water mark up to SEND_QUEUE: the next read from disk then
    // overlaps with this send instead of waiting for an empty buffer each time.
    if (!this.socket.write(chunk) && this.socket.writableLength >= SEND_QUEUE) {
      await Promise.race([once(this.socket, 'drain'), this.failed])
    }
  }

  /**
   * Handles a chunk at once when nothing waits; when a sink write makes it wait, the socket is paused
   * and chunks already on their way queue behind it. No tick and no pause per chunk while the sink keeps up.
   */
  private onData(chunk: Buffer): void {
    if (this.waiting) {
      this.backlog.push(chunk)
      this.socket.pause()
      return
    }
    let wait: Promise<void> | undefined
    try {
      wait = this.consume(chunk)
    } catch (error) {
      this.fail(error)
      return
    }
    if (wait === undefined) return
    this.waiting = true
    this.socket.pause()
    // eslint-disable-next-line unicorn/prefer-then-catch -- the failure handler must not also catch errors thrown by the success handler
    this.consuming = this.consumeBacklog(wait).then(
      () => {
        this.waiting = false
        if (this.failure === undefined) this.socket.resume()
      },
      (error: unknown) => {
        this.waiting = false
        this.fail(error)
      },
    )
  }

  private async consumeBacklog(wait: Promise<void>): Promise<void> {
    await wait
    while (this.backlog.length > 0 && this.failure === undefined) await this.consume(this.backlog.shift()!)
  }

  /** Undefined when the chunk was handled at once; else a promise that settles when it has been. */
  private consume(chunk: Buffer): Promise<void> | undefined {
    const events: ReaderEvent[] = []
    try {
      this.reader.write(chunk, events)
    } catch (error) {
      throw protocolError(error, this.address)
    }
    return this.handleEvents(events, 0)
  }

  private handleEvents(events: ReaderEvent[], from: number): Promise<void> | undefined {
    for (let index = from; index < events.length; index++) {
      const wait = this.handleEvent(events[index])
      // eslint-disable-next-line @typescript-eslint/promise-function-async -- returns undefined when nothing waits; async would force a Promise per chunk
      if (wait !== undefined) return wait.then(() => this.handleEvents(events, index + 1))
    }
    return undefined
  }

  private handleEvent(event: ReaderEvent): Promise<void> | undefined {
    const pending = this.pending
    switch (event.type) {
      case 'stream-start': {
        pending?.sink?.begin?.(event.head, event.maxLength)
        if (pending !== undefined && !pending.settled) {
          // The answer's FILE_DATA may take its own time at the minimum rate; maxLength is within maxSize.
          pending.deadlineBytes += event.maxLength
          this.armDeadline(pending)
        }
        pending?.observer?.start?.(event.maxLength)
        return undefined
      }
      case 'stream-data': {
        if (pending === undefined) return undefined
        const wait = pending.sink?.write(event.chunk)
        if (wait instanceof Promise) return wait.then(() => this.received(pending, event.chunk.length))
        this.received(pending, event.chunk.length)
        return undefined
      }
      case 'stream-end': {
        return undefined
      }
      case 'rejected': {
        throw protocolError(event.error, this.address)
      }
      case 'message': {
        return this.settle(pending, event.message)
      }
    }
  }

  private received(pending: PendingRequest, bytes: number): void {
    pending.received += bytes
    pending.observer?.update?.(pending.received)
  }

  private async settle(pending: PendingRequest | undefined, message: Message): Promise<void> {
    if (pending === undefined || pending.settled) {
      throw new ConnectionError('protocol', this.address, `${this.address} sent a message nobody asked for`)
    }
    if (message.STATUS !== 'OK' && message.STATUS !== 'ERROR') {
      throw new ConnectionError(
        'protocol',
        this.address,
        `${this.address} answered with STATUS ${JSON.stringify(message.STATUS)}, not OK or ERROR`,
      )
    }
    // A small FILE_DATA may arrive held rather than streamed; the sink gets it all the same.
    if (Buffer.isBuffer(message.FILE_DATA) && message.FILE_DATA.length > 0) {
      if (message.FILE_DATA.length > this.options.maxSize) {
        throw protocolError(
          {code: 'E_TOO_LARGE', message: `FILE_DATA is over the limit of ${this.options.maxSize} bytes`},
          this.address,
        )
      }
      pending.observer?.start?.(message.FILE_DATA.length)
      pending.sink?.begin?.(message.extra, message.FILE_DATA.length)
      if (pending.sink) await pending.sink.write(message.FILE_DATA)
      this.received(pending, message.FILE_DATA.length)
    }
    // An ERROR to a frame the server could not read as our request (no COMMAND echoed, or a frame-level
    // code) means it is closing this connection: the next request goes on a new one.
    if (message.STATUS === 'ERROR' && answerClosesConnection(message)) {
      this.outOfStep = true
    }
    pending.settled = true
    pending.resolve(message)
  }

  private fail(error: unknown): void {
    if (this.failure === undefined) {
      this.failure = error
      this.markFailed(error)
      this.socket.destroy()
    }
    const pending = this.pending
    if (pending !== undefined && !pending.settled) {
      pending.settled = true
      pending.reject(error)
    }
  }
}

/** A streamed frame's tail with the trailer's final values; the same length as the placeholder's, or an Error. */
function finalTail(
  message: OutgoingMessage,
  fileData: OutgoingFileData,
  options: Parameters<typeof encodeStreamingFrame>[2],
  placeholderLength: number,
): Buffer {
  const {tail} = encodeStreamingFrame({...message, trailing: fileData.trailer!()}, fileData.length, options)
  if (tail.length !== placeholderLength) throw new Error('the trailing keys changed the frame length')
  return tail
}

/** host:port, with brackets around an IPv6 address. */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

function protocolError(error: unknown, address: string): ConnectionError {
  const detail = isIssError(error) || error instanceof Error ? error.message : String(error)
  const tooLarge = (error as {code?: unknown})?.code === 'E_TOO_LARGE'
  const message = tooLarge
    ? `${address} sent more than this client accepts (${detail}); raise --max-size if you trust it`
    : `${address} does not speak the iss protocol: ${detail}`
  return new ConnectionError('protocol', address, message, {cause: error})
}

function socketError(error: NodeJS.ErrnoException, address: string, prefix = ''): ConnectionError {
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check -- default covers undefined and every other code
  switch (error.code) {
    case 'ECONNREFUSED': {
      return new ConnectionError('refused', address, `${prefix}${address}: connection refused`, {cause: error})
    }
    case 'ETIMEDOUT': {
      return new ConnectionError('timeout', address, `${prefix}${address}: timed out`, {cause: error})
    }
    case 'ECONNRESET':
    case 'EPIPE': {
      return new ConnectionError('reset', address, `connection to ${address} was reset`, {cause: error})
    }
    case 'ENOTFOUND':
    case 'EAI_AGAIN': {
      return new ConnectionError('unresolved', address, `${prefix}${address}: unknown host`, {cause: error})
    }
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': {
      return new ConnectionError('unreachable', address, `${prefix}${address}: host unreachable`, {cause: error})
    }
    default: {
      return new ConnectionError('failed', address, `${prefix}${address}: ${error.message}`, {cause: error})
    }
  }
}
