import type {Socket} from 'node:net'
import type {Readable, Writable} from 'node:stream'

import {type ByteOrder, FRAME_HEADER_BYTES} from '../protocol/frame-header.js'
import {ErrorCode, IssError, isIssError} from '../errors.js'
import type {Message} from '../protocol/message.js'
import {MessageReader, type ReaderEvent} from '../protocol/message-reader.js'
import {encodeFrame, encodeStreamingFrame, type OutgoingMessage} from '../protocol/message-writer.js'

/** Where a request's FILE_DATA goes while it arrives: the transport needs only a sink and a way to drop it. */
export interface ConnectionUpload {
  readonly sink: Writable
  abort(): Promise<void>
}

/** A whole request, handed to the dispatch callback. */
export interface ConnectionRequest<U extends ConnectionUpload> {
  readonly message: Message
  readonly upload: U | null
  readonly peer: string
  /** Aborted when the connection goes away. */
  readonly signal: AbortSignal
}

/** The answer to one request, as the dispatch callback builds it. */
export interface ConnectionReply {
  readonly message: Omit<OutgoingMessage, 'FILE_DATA'>
  readonly fileData: Buffer | {readonly length: number; readonly stream: Readable} | null
  readonly status: 'OK' | 'ERROR'
  readonly code: string | null
  /** Close after sending: the byte stream is out of step. */
  readonly fatal: boolean
}

/** What the connection knows of a request that failed before dispatch. */
export interface FailedRequestInfo {
  readonly command: string | null
  readonly filename: string | null
  readonly versioned: boolean
}

/** One answered request, for the log. */
export interface CompletedRequest {
  readonly peer: string
  readonly command: string | null
  readonly filename: string | null
  readonly bytes: number
  readonly durationMs: number
  readonly status: 'OK' | 'ERROR'
  readonly code: string | null
}

/** What the server gives each connection; the transport knows nothing of images, stores or commands. */
export interface ConnectionHooks<U extends ConnectionUpload> {
  openUpload(): Promise<U>
  dispatch(request: ConnectionRequest<U>): Promise<ConnectionReply>
  errorReply(error: unknown, request: FailedRequestInfo): ConnectionReply
  onRequestDone?(request: CompletedRequest): void
}

/** Limits of one connection. Sizes in bytes, times in ms. */
export interface ConnectionLimits {
  readonly maxFrameBytes: number
  /** Largest FILE_DATA. */
  readonly maxStreamBytes: number
  readonly idleTimeoutMs: number
  /** A request in progress must move this many bytes per window, counting only time spent waiting on the peer. */
  readonly minRateBytes: number
  readonly rateWindowMs: number
  /** After a fatal answer, how long to keep discarding what the peer still sends before closing. */
  readonly lingerMs: number
}

/** Extra bytes discarded after a fatal answer beyond what the frame announced (a header, a pipelined request). */
const LINGER_SLACK_BYTES = 64 * 1024
const PROTOCOL = 4
/** Bytes queued on the socket before a response's writer waits for it to drain. */
const OUTPUT_BOUND = 1024 * 1024

type State = 'open' | 'lingering' | 'closed'

type QueuedEvent = ReaderEvent | {type: 'fatal'; error: unknown} | {type: 'wait'; done: Promise<void>}

/** The header's byte order when nothing better is known: the reading that gives the smaller length. */
export function guessByteOrder(header: Buffer): ByteOrder {
  if (header.length < FRAME_HEADER_BYTES) return 'big'
  return header.readUInt32LE(0) < header.readUInt32BE(0) ? 'little' : 'big'
}

function peerOf(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown'
  return `${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? 0}`
}

/**
 * One client connection: bytes -> MessageReader events -> upload sink -> dispatch -> reply, one
 * request at a time and answered in order. The socket is paused while an event is being handled;
 * upload data flows on without a pause while the sink has room, so a fast sender can make the server
 * buffer at most the sink's high-water mark plus one socket chunk per connection.
 */
export class ServerConnection<U extends ConnectionUpload = ConnectionUpload> {
  readonly peer: string
  private readonly reader: MessageReader
  private readonly queue: QueuedEvent[] = []
  private readonly abort = new AbortController()
  private state: State = 'open'
  private pumping = false
  private peerEnded = false
  private closeWhenIdle = false
  private firstBytes = Buffer.alloc(0)
  /** The reader threw: it is unusable, and the one ERROR is on its way. */
  private readerFailed = false

  // The request in progress.
  private requestActive = false
  private requestStart = 0
  private requestBytes = 0
  private upload: U | null = null
  private uploadError: unknown = null
  /** Feeds the upload's sink; its flush lets handlers see every byte. */
  private feeder: SinkFeeder | null = null

  // Rate accounting: bytes moved, and time spent on our own work (not the peer's fault).
  private bytesIn = 0
  private bytesOut = 0
  private windowStart = 0
  private windowIn = 0
  private windowOut = 0
  private ownBusyMs = 0
  private ownBusySince: number | null = null
  private rateTimer: NodeJS.Timeout | null = null
  private idleTimer: NodeJS.Timeout | null = null
  private lingerTimer: NodeJS.Timeout | null = null
  private lingerBudget = 0
  private idleSinceMs = Date.now()
  private readonly closeListeners: Array<() => void> = []

  constructor(
    private readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks<U>,
  ) {
    this.peer = peerOf(socket)
    this.reader = new MessageReader({
      maxFrameBytes: limits.maxFrameBytes,
      maxStreamBytes: limits.maxStreamBytes,
      byteOrder: 'detect',
      streamKeys: ['FILE_DATA'],
    })
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      this.onData(chunk)
    })
    socket.on('end', () => {
      this.onPeerEnd()
    })
    socket.on('error', () => {
      this.destroy()
    })
    socket.on('close', () => {
      this.onClosed()
    })
    this.armIdleTimer()
  }

  /** No request in progress or queued: the server may close this one to make room. */
  get idle(): boolean {
    return this.state === 'open' && !this.requestActive && this.queue.length === 0 && !this.pumping
  }

  /** When the connection last became idle (ms since the epoch). */
  get idleSince(): number {
    return this.idleSinceMs
  }

  get closed(): boolean {
    return this.state === 'closed'
  }

  onClose(listener: () => void): void {
    if (this.state === 'closed') listener()
    else this.closeListeners.push(listener)
  }

  /** Closes now if idle, else after the request in progress has been answered. */
  shutdown(): void {
    this.closeWhenIdle = true
    if (this.idle) this.endGracefully()
  }

  /** Drops the connection at once. */
  destroy(): void {
    if (this.state === 'closed') return
    this.socket.destroy()
    this.onClosed()
  }

  // ---- input

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length
    if (this.state === 'lingering') {
      this.lingerBudget -= chunk.length
      if (this.lingerBudget < 0) this.destroy()
      return
    }

    if (this.state !== 'open' || this.readerFailed) return
    if (this.firstBytes.length < FRAME_HEADER_BYTES) {
      this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, FRAME_HEADER_BYTES - this.firstBytes.length)])
    }

    this.startRequest()
    const events: ReaderEvent[] = []
    try {
      this.reader.write(chunk, events)
      this.queue.push(...events)
    } catch (error) {
      this.readerFailed = true
      this.queue.push(...events, {type: 'fatal', error})
    }

    this.pump()
  }

  private onPeerEnd(): void {
    this.peerEnded = true
    if (this.state === 'lingering') {
      this.destroy()
      return
    }

    // A half-closed peer still gets the answers to whole requests; a truncated frame gets nothing.
    if (this.reader.inFrame) this.destroy()
    else if (this.idle) this.endGracefully()
  }

  private pump(): void {
    if (this.pumping) return
    // Upload data that the sink takes at once is handled here, without pausing the socket and
    // without a tick per chunk; anything else (or a full sink) goes through the loop below.
    while (this.queue.length > 0 && this.state === 'open' && this.queue[0].type === 'stream-data') {
      const {chunk} = this.queue.shift() as {chunk: Buffer}
      this.requestBytes += chunk.length
      const wait = this.feedUpload(chunk)
      if (wait) {
        this.queue.unshift({type: 'wait', done: wait})
        break
      }
    }

    if (this.queue.length === 0) {
      if (this.state === 'open' && !this.reader.inFrame) this.finishRequest()
      return
    }

    void this.pumpQueue()
  }

  /** Handles the queued events one at a time with the socket paused, then resumes it. */
  private async pumpQueue(): Promise<void> {
    this.pumping = true
    this.socket.pause()
    try {
      while (this.queue.length > 0 && this.state === 'open') {
        const event = this.queue.shift()!
        await this.handle(event)
      }
    } catch (error) {
      // A bug in our own event handling: the stream state is unknown, so drop the connection.
      this.hooks.errorReply(error, {command: null, filename: null, versioned: false})
      this.destroy()
    } finally {
      this.pumping = false
    }

    if (this.state !== 'open') return
    if (!this.reader.inFrame && this.queue.length === 0) this.finishRequest()
    if (this.state === 'open') this.socket.resume()
  }

  private async handle(event: QueuedEvent): Promise<void> {
    switch (event.type) {
      case 'message': {
        await this.answer(event.message, event.byteOrder)
        return
      }

      case 'rejected': {
        await this.dropUpload()
        const reply = this.hooks.errorReply(event.error, {
          command: event.command,
          filename: event.filename,
          versioned: false,
        })
        await this.sendReply(reply, this.reader.byteOrder ?? guessByteOrder(this.firstBytes))
        this.report(reply, event.command, event.filename)
        if (reply.fatal || event.error.fatal) this.linger()
        return
      }

      case 'stream-data': {
        this.requestBytes += event.chunk.length
        await this.writeToUpload(event.chunk)
        return
      }

      case 'stream-end': {
        return
      }

      case 'wait': {
        await this.own(event.done)
        return
      }

      case 'stream-start': {
        this.upload = null
        this.uploadError = null
        try {
          this.upload = await this.own(this.hooks.openUpload())
          // An error on the sink (disk full) is answered when the message is complete.
          this.upload.sink.on('error', (error) => {
            this.uploadError ??= error
          })
        } catch (error) {
          this.uploadError = error
        }

        return
      }

      case 'fatal': {
        await this.dropUpload()
        const error = isIssError(event.error)
          ? event.error
          : new IssError(ErrorCode.MALFORMED, 'Malformed message', {fatal: true, cause: event.error})
        const reply = this.hooks.errorReply(error, {command: null, filename: null, versioned: false})
        await this.sendReply(reply, this.reader.byteOrder ?? guessByteOrder(this.firstBytes))
        this.report(reply, null, null)
        this.linger()
      }
    }
  }

  /** Queues a chunk on the upload's sink; resolves at once unless the sink is full. */
  private async writeToUpload(chunk: Buffer): Promise<void> {
    const wait = this.feedUpload(chunk)
    if (wait) await this.own(wait)
  }

  /** Like writeToUpload, but returns nothing when there is no need to wait, so that data flows without a tick. */
  private feedUpload(chunk: Buffer): Promise<void> | undefined {
    const upload = this.upload
    if (!upload || this.uploadError !== null) return undefined
    if (this.feeder?.sink !== upload.sink) this.feeder = new SinkFeeder(upload.sink)
    return this.feeder.write(chunk)
  }

  private async answer(message: Message, byteOrder: ByteOrder): Promise<void> {
    let upload = this.upload
    this.upload = null
    // A held FILE_DATA (small, or b'' at protocol 2) goes into an upload too: handlers see one shape.
    if (Buffer.isBuffer(message.FILE_DATA) && this.uploadError === null) {
      try {
        upload = await this.own(this.hooks.openUpload())
        upload.sink.on('error', (error) => {
          this.uploadError ??= error
        })
        this.upload = upload
        this.requestBytes += message.FILE_DATA.length
        await this.writeToUpload(message.FILE_DATA)
        this.upload = null
      } catch (error) {
        this.uploadError ??= error
      }
    }

    const isVersioned = message.VERSION !== null
    if (upload && this.feeder?.sink === upload.sink) await this.own(this.feeder.flushed())
    this.feeder = null
    const reply: ConnectionReply =
      this.uploadError === null
        ? await this.own(this.hooks.dispatch({message, upload, peer: this.peer, signal: this.abort.signal}))
        : this.hooks.errorReply(this.uploadError, {
            command: message.COMMAND,
            filename: message.FILENAME,
            versioned: isVersioned,
          })

    this.uploadError = null
    // Whatever the handler did not publish is thrown away; abort after commit is a no-op.
    if (upload) await this.own(upload.abort().catch(ignore))
    await this.sendReply(reply, byteOrder)
    this.report(reply, message.COMMAND, message.FILENAME)
    if (reply.fatal) this.linger()
  }

  private async dropUpload(): Promise<void> {
    const upload = this.upload
    this.upload = null
    this.uploadError = null
    this.feeder = null
    if (upload) await upload.abort().catch(ignore)
  }

  // ---- output

  private async sendReply(reply: ConnectionReply, byteOrder: ByteOrder): Promise<void> {
    const options = {protocol: PROTOCOL, byteOrder} as const
    const {fileData} = reply
    if (fileData === null || Buffer.isBuffer(fileData)) {
      if (fileData) this.requestBytes += fileData.length
      await this.write(encodeFrame({...reply.message, FILE_DATA: fileData}, options))
      return
    }

    const {head, tail} = encodeStreamingFrame(reply.message, fileData.length, options)
    let sent = 0
    let isTailQueued = false
    // Head, first chunk (and tail, when that chunk is all) leave in one writev: a small image is
    // one syscall and one segment train instead of three.
    let isCorked = true
    this.socket.cork()
    try {
      this.send(head)
      const iterator = fileData.stream[Symbol.asyncIterator]()
      for (;;) {
        const next = await this.own(iterator.next())
        if (next.done) break
        const chunk = next.value as Buffer
        sent += chunk.length
        if (sent > fileData.length || this.state === 'closed') break
        this.requestBytes += chunk.length
        this.send(chunk)
        if (sent === fileData.length) {
          this.send(tail)
          isTailQueued = true
        }

        if (isCorked) {
          isCorked = false
          this.socket.uncork()
        }

        await this.drained()
      }
    } finally {
      if (isCorked) this.socket.uncork()
      fileData.stream.destroy()
    }

    // A file that changed length under us cannot be framed any more: the peer must not trust it.
    if (sent !== fileData.length) {
      this.destroy()
      return
    }

    if (!isTailQueued) await this.write(tail)
  }

  private async write(buffer: Buffer): Promise<void> {
    this.send(buffer)
    await this.drained()
  }

  private send(buffer: Buffer): void {
    if (this.state === 'closed') return
    this.socket.write(buffer, (error) => {
      if (!error) this.bytesOut += buffer.length
    })
  }

  /**
   * Past the socket's small high-water mark, keep queueing up to OUTPUT_BOUND: the next read from
   * disk then overlaps with the send instead of waiting for an empty buffer each time.
   */
  private async drained(): Promise<void> {
    if (this.state !== 'closed' && this.socket.writableLength >= OUTPUT_BOUND) await waitForDrain(this.socket)
  }

  private report(reply: ConnectionReply, command: string | null, filename: string | null): void {
    this.hooks.onRequestDone?.({
      peer: this.peer,
      command,
      filename,
      bytes: this.requestBytes,
      durationMs: performance.now() - this.requestStart,
      status: reply.status,
      code: reply.code,
    })
    this.requestBytes = 0
    this.requestStart = performance.now()
  }

  // ---- request lifetime, timers and closing

  private startRequest(): void {
    if (this.requestActive) return
    this.requestActive = true
    this.requestStart = performance.now()
    this.requestBytes = 0
    this.clearIdleTimer()
    this.resetWindow()
    this.rateTimer = setInterval(() => {
      this.checkRate()
    }, this.limits.rateWindowMs)
    this.rateTimer.unref()
  }

  private finishRequest(): void {
    if (!this.requestActive) return
    this.requestActive = false
    this.idleSinceMs = Date.now()
    if (this.rateTimer) clearInterval(this.rateTimer)
    this.rateTimer = null
    if (this.closeWhenIdle || this.peerEnded) this.endGracefully()
    else this.armIdleTimer()
  }

  /** Runs our own work (disk, handler) and books its time, so the peer is not judged for it. */
  private async own<T>(promise: Promise<T>): Promise<T> {
    const isNested = this.ownBusySince !== null
    if (!isNested) this.ownBusySince = performance.now()
    try {
      return await promise
    } finally {
      if (!isNested && this.ownBusySince !== null) {
        this.ownBusyMs += performance.now() - this.ownBusySince
        this.ownBusySince = null
      }
    }
  }

  private resetWindow(): void {
    this.windowStart = performance.now()
    this.windowIn = this.bytesIn
    this.windowOut = this.bytesOut
    this.ownBusyMs = 0
    if (this.ownBusySince !== null) this.ownBusySince = this.windowStart
  }

  private checkRate(): void {
    if (this.state !== 'open' || !this.requestActive) return
    const now = performance.now()
    const busy = this.ownBusyMs + (this.ownBusySince === null ? 0 : now - this.ownBusySince)
    const peerTime = now - this.windowStart - busy
    const moved = this.bytesIn - this.windowIn + (this.bytesOut - this.windowOut)
    const required = (this.limits.minRateBytes * peerTime) / this.limits.rateWindowMs
    // Judge only windows spent mostly waiting on the peer.
    if (peerTime >= this.limits.rateWindowMs / 2 && moved < required) {
      this.tooSlow()
      return
    }

    this.resetWindow()
  }

  private tooSlow(): void {
    if (this.socket.writableLength > 0) {
      // A slow reader mid-response: there is no way to slip an ERROR in.
      this.destroy()
      return
    }

    const error = new IssError(
      ErrorCode.TIMEOUT,
      `Request too slow: less than ${this.limits.minRateBytes} bytes in ${this.limits.rateWindowMs} ms`,
      {fatal: true},
    )
    void this.dropUpload()
    const reply = this.hooks.errorReply(error, {command: null, filename: null, versioned: false})
    const byteOrder = this.reader.byteOrder ?? guessByteOrder(this.firstBytes)
    this.socket.write(encodeFrame({...reply.message, FILE_DATA: null}, {protocol: PROTOCOL, byteOrder}))
    this.report(reply, null, null)
    this.linger()
  }

  private armIdleTimer(): void {
    this.clearIdleTimer()
    this.idleTimer = setTimeout(() => {
      if (this.idle) this.endGracefully()
    }, this.limits.idleTimeoutMs)
    this.idleTimer.unref()
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer)
    this.idleTimer = null
  }

  /**
   * After a fatal answer: half-close, then keep reading and discarding what the peer still sends
   * of its frame (bounded by the announced length and by time), so that a client that writes its
   * whole request before reading gets the ERROR instead of a connection reset.
   */
  private linger(): void {
    if (this.state !== 'open') return
    this.state = 'lingering'
    this.queue.length = 0
    const announced = this.reader.announcedRemaining

    this.lingerBudget = announced + LINGER_SLACK_BYTES
    this.stopTimers()
    this.socket.end()
    this.lingerTimer = setTimeout(() => {
      this.destroy()
    }, this.limits.lingerMs)
    this.lingerTimer.unref()
    if (this.peerEnded) this.destroy()
    else this.socket.resume()
  }

  private endGracefully(): void {
    if (this.state !== 'open') return
    this.state = 'lingering'
    this.lingerBudget = LINGER_SLACK_BYTES
    this.stopTimers()
    this.socket.end()
    // The peer normally answers our FIN with its own at once; do not wait for ever.
    this.lingerTimer = setTimeout(
      () => {
        this.destroy()
      },
      Math.min(this.limits.lingerMs, 2000),
    )
    this.lingerTimer.unref()
    if (this.peerEnded) this.destroy()
    else this.socket.resume()
  }

  private stopTimers(): void {
    this.clearIdleTimer()
    if (this.rateTimer) clearInterval(this.rateTimer)
    this.rateTimer = null
  }

  private onClosed(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.stopTimers()
    if (this.lingerTimer) clearTimeout(this.lingerTimer)
    this.abort.abort()
    void this.dropUpload()
    this.queue.length = 0
    for (const listener of this.closeListeners.splice(0)) listener()
  }
}

/**
 * Writes into a sink with bounded buffering. Unlike waiting for 'drain' (an empty buffer), a writer
 * waits only while the sink holds its high-water mark or more, and goes on as soon as one write
 * completes: the socket is read while the disk writes, and memory stays within the sink's bound
 * plus one chunk.
 */
class SinkFeeder {
  private pending = 0
  private waiter: {readonly resolve: () => void; readonly flush: boolean} | null = null

  constructor(readonly sink: Writable) {
    const wake = () => {
      this.wake()
    }
    sink.once('close', wake)
    sink.once('error', wake)
  }

  /** Undefined when the caller may go on at once; else a promise that settles once there is room (or the sink failed). */
  write(chunk: Buffer): Promise<void> | undefined {
    this.pending++
    this.sink.write(chunk, this.written)
    if (this.hasRoom()) return undefined
    return new Promise((resolve) => {
      this.waiter = {resolve, flush: false}
    })
  }

  /** Settles when every chunk written so far has reached the sink's target (or the sink failed). */
  async flushed(): Promise<void> {
    if (this.pending === 0 || this.sink.destroyed) return
    return new Promise((resolve) => {
      this.waiter = {resolve, flush: true}
    })
  }

  private hasRoom(): boolean {
    return this.sink.writableLength < this.sink.writableHighWaterMark || this.sink.destroyed
  }

  private readonly written = (): void => {
    this.pending--
    const {waiter} = this
    if (waiter && (waiter.flush ? this.pending === 0 : this.hasRoom())) this.wake()
  }

  private wake(): void {
    const {waiter} = this
    this.waiter = null
    waiter?.resolve()
  }
}

/** An abort that fails has nothing left to clean: the upload is gone either way. */
// eslint-disable-next-line @typescript-eslint/no-empty-function -- deliberately a no-op
function ignore(): void {}

/** Resolves on 'drain', or when the stream closes or fails (the caller then sees the closed state). */
async function waitForDrain(stream: Writable | Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      stream.off('error', done)
      resolve()
    }

    stream.on('drain', done)
    stream.on('close', done)
    stream.on('error', done)
  })
}
