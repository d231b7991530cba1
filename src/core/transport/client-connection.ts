import {once} from 'node:events'
import net from 'node:net'
import type {Readable} from 'node:stream'

import {maxFrameBytes} from '../config.js'
import {type IssError, isIssError} from '../protocol/errors.js'
import type {ByteOrder} from '../protocol/frame-header.js'
import type {Message} from '../protocol/message.js'
import {MessageReader, type ReaderEvent} from '../protocol/message-reader.js'
import {encodeFrame, encodeStreamingFrame, type OutgoingMessage} from '../protocol/message-writer.js'

/** Error codes after which a server closes the connection. */
const CLOSING_CODES = new Set(['E_MALFORMED', 'E_TOO_LARGE', 'E_BUSY', 'E_TIMEOUT', 'E_SHUTTING_DOWN'])

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
  protocol:
    'is it an iss or seed image server? A seed server may use little-endian length headers: try --frame-endian little',
  failed: 'check the address given with --host and --port',
}

/**
 * A connection or protocol failure talking to a server: refused, timed out, reset, closed early, or a
 * peer that does not speak the protocol. Always names the server's host:port.
 */
export class ConnectionError extends Error {
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
export interface FileDataSink {
  write(chunk: Buffer): Promise<void> | void
}

/** A request's FILE_DATA sent from a stream of known length (for example fs.createReadStream). */
export interface OutgoingFileData {
  readonly length: number
  readonly stream: Readable
}

/** Progress callbacks of one request: bytes of FILE_DATA sent or received. */
export interface TransferObserver {
  /** The total is known: the request's FILE_DATA length, or the announced length of the response's. */
  start?(total: number): void
  update?(done: number): void
}

export interface ClientRequestOptions {
  /** Stream this as the request's FILE_DATA (the message's FILE_DATA must then be null). */
  fileData?: OutgoingFileData
  /** Receives the response's FILE_DATA; without a sink it is counted and dropped. */
  sink?: FileDataSink
  observer?: TransferObserver
}

export interface ClientConnectionOptions {
  host: string
  port: number
  /** Connect timeout, and the longest time without any byte moving while a request is in flight. */
  timeoutMs: number
  /** Byte order of the frame headers we send and expect back. */
  byteOrder: ByteOrder
  /** Largest FILE_DATA accepted in a response; the frame limit derives from it. */
  maxSize: number
}

interface PendingRequest {
  readonly resolve: (message: Message) => void
  readonly reject: (error: unknown) => void
  readonly sink?: FileDataSink
  readonly observer?: TransferObserver
  received: number
  settled: boolean
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
  /** Reading is serialised: the socket is paused while a chunk's events (and sink writes) are handled. */
  private consuming: Promise<void> = Promise.resolve()
  /** Set when a frame was cut short on our side: the byte stream is out of step, no further request. */
  private outOfStep = false

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ClientConnectionOptions,
  ) {
    this.address = formatAddress(options.host, options.port)
    this.reader = new MessageReader({
      byteOrder: options.byteOrder,
      maxFrameBytes: maxFrameBytes(options.maxSize),
      maxStreamBytes: options.maxSize,
    })
    this.failed = new Promise<never>((_, reject) => {
      this.markFailed = reject
    })
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
      socket.pause()
      this.consuming = this.consuming
        .then(() => this.consume(chunk))
        .then(
          () => {
            if (this.failure === undefined) socket.resume()
          },
          (error: unknown) => this.fail(error),
        )
    })
  }

  /** Opens a connection, failing with a ConnectionError after `timeoutMs`. */
  static connect(options: ClientConnectionOptions): Promise<ClientConnection> {
    const address = formatAddress(options.host, options.port)
    return new Promise((resolve, reject) => {
      const socket = net.connect({host: options.host, port: options.port})
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
        reject(socketError(error, address, 'cannot connect to '))
      })
      socket.once('connect', () => {
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
    if (!this.usable) throw this.failure ?? new ConnectionError('closed', this.address, `${this.address} is closed`)
    const response = new Promise<Message>((resolve, reject) => {
      this.pending = {resolve, reject, sink: options.sink, observer: options.observer, received: 0, settled: false}
    })
    response.catch(() => {})
    const pending = this.pending!
    try {
      if (options.fileData === undefined) {
        await this.send(encodeFrame(message, {byteOrder: this.options.byteOrder}))
      } else {
        await this.sendStreaming(message, options.fileData, pending)
      }
    } catch (error) {
      this.fail(error)
    }
    try {
      return await response
    } finally {
      if (this.pending === pending) this.pending = undefined
      if (this.outOfStep) this.close()
    }
  }

  /** Closes the connection; a request in flight fails. */
  close(): void {
    this.fail(new ConnectionError('closed', this.address, `connection to ${this.address} closed`))
  }

  private async sendStreaming(message: OutgoingMessage, fileData: OutgoingFileData, pending: PendingRequest) {
    const {head, tail} = encodeStreamingFrame(message, fileData.length, {byteOrder: this.options.byteOrder})
    const {stream, length} = fileData
    pending.observer?.start?.(length)
    await this.send(head)
    let sent = 0
    try {
      for await (const data of stream) {
        // The server may answer (ERROR) before it has read everything: stop, the frame is then incomplete.
        if (pending.settled || this.failure !== undefined) break
        let chunk = data as Buffer
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
    await this.send(tail)
  }

  private async send(chunk: Buffer): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (!this.socket.write(chunk)) await Promise.race([once(this.socket, 'drain'), this.failed])
  }

  private async consume(chunk: Buffer): Promise<void> {
    const events: ReaderEvent[] = []
    try {
      this.reader.write(chunk, events)
    } catch (error) {
      throw protocolError(error, this.address)
    }
    for (const event of events) {
      const pending = this.pending
      switch (event.type) {
        case 'stream-start': {
          pending?.observer?.start?.(event.maxLength)
          break
        }
        case 'stream-data': {
          if (pending === undefined) break
          if (pending.sink) await pending.sink.write(event.chunk)
          pending.received += event.chunk.length
          pending.observer?.update?.(pending.received)
          break
        }
        case 'stream-end': {
          break
        }
        case 'rejected': {
          throw protocolError(event.error, this.address)
        }
        case 'message': {
          if (pending === undefined || pending.settled) {
            throw new ConnectionError('protocol', this.address, `${this.address} sent a message nobody asked for`)
          }
          const {message} = event
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
            if (pending.sink) await pending.sink.write(message.FILE_DATA)
            pending.received += message.FILE_DATA.length
            pending.observer?.update?.(pending.received)
          }
          // An ERROR to a frame the server could not read as our request (no COMMAND echoed, or a frame-level
          // code) means it is closing this connection: the next request goes on a new one.
          if (message.STATUS === 'ERROR' && (message.COMMAND === null || CLOSING_CODES.has(message.CODE ?? ''))) {
            this.outOfStep = true
          }
          pending.settled = true
          pending.resolve(message)
          break
        }
      }
    }
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

/** host:port, with brackets around an IPv6 address. */
export function formatAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

function protocolError(error: unknown, address: string): ConnectionError {
  const detail = isIssError(error) || error instanceof Error ? (error as IssError | Error).message : String(error)
  const tooLarge = (error as {code?: unknown})?.code === 'E_TOO_LARGE'
  const message = tooLarge
    ? `${address} sent more than this client accepts (${detail}); raise --max-size if you trust it`
    : `${address} does not speak the iss protocol: ${detail}`
  return new ConnectionError('protocol', address, message, {cause: error})
}

function socketError(error: NodeJS.ErrnoException, address: string, prefix = ''): ConnectionError {
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
