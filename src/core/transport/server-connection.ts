import type {Socket} from 'node:net'

import {ErrorCode, IssError, isIssError} from '../errors.js'
import {FIRST_BYTES, type ForeignStart, foreignStart, foreignStartMessage} from '../protocol/first-bytes.js'
import {type ByteOrder, FRAME_HEADER_BYTES} from '../protocol/frame-header.js'
import type {Message} from '../protocol/message.js'
import {MessageReader, type ReaderEvent} from '../protocol/message-reader.js'
import type {PickleDict} from '../protocol/values.js'
import type {FailedRequest, Reply} from '../reply.js'
import {ConnectionClock} from './connection-clock.js'
import type {ConnectionHooks, ConnectionLimits} from './exchange.js'
import {ReplyWriter} from './reply-writer.js'
import {type Current, entryOf, fresh} from './request-record.js'
import {SinkFeeder} from './sink-feeder.js'

export type {CompletedRequest, ConnectionHooks, ConnectionLimits, HeadDecision, RequestExchange} from './exchange.js'

/**
 * A refusal of a request head whose FILE_DATA is announced at most this long waits for the end of
 * its (short) frame, so that its answer can honour keys sent after FILE_DATA (a seed client adding
 * VERSION last); a longer one is answered at once and the rest of its frame is discarded.
 */
const ANSWER_AT_END_BYTES = 64 * 1024

/** Extra bytes discarded after a fatal answer beyond what the frame announced (a header, a pipelined request). */
const LINGER_SLACK_BYTES = 64 * 1024

type State = 'open' | 'lingering' | 'closed'

type QueuedEvent = ReaderEvent | {type: 'fatal'; error: unknown} | {type: 'wait'; done: Promise<void>}

/** The header's byte order when nothing better is known: the reading that gives the smaller length. */
export function guessByteOrder(header: Buffer): ByteOrder {
  if (header.length < FRAME_HEADER_BYTES) return 'big'
  return header.readUInt32LE(0) < header.readUInt32BE(0) ? 'little' : 'big'
}

export function peerOf(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown'
  return `${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? 0}`
}

/**
 * One client connection: bytes -> MessageReader events -> the request's exchange (head, FILE_DATA
 * into the sink it names, whole message) -> reply, one request at a time and answered in order.
 * The socket is paused while an event is being handled; upload data flows on without a pause while
 * the sink has room, so a fast sender makes the server buffer at most the sink's high-water mark
 * plus one socket chunk per connection. Deadlines and rates live in {@link ConnectionClock},
 * encoding in {@link ReplyWriter}.
 */
export class ServerConnection {
  readonly peer: string
  private readonly reader: MessageReader
  private readonly clock: ConnectionClock
  private readonly writer: ReplyWriter
  private readonly queue: QueuedEvent[] = []
  private readonly abort = new AbortController()
  private state: State = 'open'
  private pumping = false
  private peerEnded = false
  private closeWhenIdle = false
  /** The connection's first bytes, held until they show whether this is our protocol at all. */
  private firstBytes: Buffer | null = Buffer.alloc(0)
  private header = Buffer.alloc(0)
  private readerFailed = false
  private current: Current = fresh()
  private lingerTimer: NodeJS.Timeout | null = null
  private lingerBudget = 0
  /** Bytes the socket has handed to the kernel, over the connection's life. */
  private bytesSent = 0
  private readonly closeListeners: Array<() => void> = []

  constructor(
    private readonly socket: Socket,
    private readonly limits: ConnectionLimits,
    private readonly hooks: ConnectionHooks,
    options: {readonly decodeLimits?: ConstructorParameters<typeof MessageReader>[0]['limits']} = {},
  ) {
    this.peer = peerOf(socket)
    this.reader = new MessageReader({
      maxFrameBytes: limits.maxFrameBytes,
      maxStreamBytes: limits.maxStreamBytes,
      byteOrder: 'detect',
      streamKeys: ['FILE_DATA'],
      limits: options.decodeLimits ?? limits.decodeLimits,
      budget: limits.decodeBudget,
    })
    this.clock = new ConnectionClock(limits, {
      idle: () => {
        if (this.idle) this.endGracefully()
      },
      headerTimeout: () => {
        this.cutOff(`no complete request within ${limits.headerTimeoutMs / 1000} s of its first byte`)
      },
      tooSlow: () => {
        this.cutOff(`less than ${limits.minRateBytes} bytes in ${limits.rateWindowMs / 1000} s`)
      },
      deadline: () => {
        this.cutOff('the request took longer than its size allows at the minimum average rate')
      },
    })
    this.writer = new ReplyWriter(
      socket,
      (bytes) => {
        this.clock.moved(bytes)
        this.bytesSent += bytes
      },
      async (promise) => this.clock.own(promise),
    )
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
  }

  /** No request in progress or queued: the server may close this one to make room. */
  get idle(): boolean {
    return this.state === 'open' && !this.clock.requestActive && this.queue.length === 0 && !this.pumping
  }

  /** When the connection last became idle (ms since the epoch). */
  get idleSince(): number {
    return this.clock.idleSince
  }

  /** Only lingering after a fatal answer or a close: it serves nobody any more. */
  get lingering(): boolean {
    return this.state === 'lingering'
  }

  /** A request has begun but its frame header or request head is not complete. */
  get awaitingHead(): boolean {
    return this.state === 'open' && this.clock.awaitingHead
  }

  /** Bytes per second of the request in progress over the last judged window (Infinity before one). */
  get recentRate(): number {
    return this.clock.recentRate
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
    this.clock.moved(chunk.length)
    if (this.state === 'lingering') {
      this.lingerBudget -= chunk.length
      if (this.lingerBudget < 0) this.destroy()
      return
    }

    if (this.state !== 'open' || this.readerFailed) return
    if (!this.clock.requestActive) {
      this.clock.startRequest()
      this.current.start = performance.now()
    }

    if (this.header.length < FRAME_HEADER_BYTES)
      this.header = Buffer.concat([this.header, chunk.subarray(0, FRAME_HEADER_BYTES - this.header.length)])

    let input = chunk
    if (this.firstBytes !== null) {
      // Hold the first bytes until they show whether the peer speaks this protocol at all.
      input = Buffer.concat([this.firstBytes, chunk])
      if (input.length < FIRST_BYTES) {
        this.firstBytes = input
        return
      }

      this.firstBytes = null
      const foreign = foreignStart(input)
      if (foreign !== null) {
        this.refuseForeign(foreign, input)
        return
      }
    }

    const events: ReaderEvent[] = []
    try {
      this.reader.write(input, events)
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
    if (this.reader.inFrame || (this.firstBytes?.length ?? 0) > 0) this.destroy()
    else if (this.idle) this.endGracefully()
  }

  private pump(): void {
    if (this.pumping) return
    // Upload data that the sink takes at once is handled here, without pausing the socket and
    // without a tick per chunk; anything else (or a full sink) goes through the loop below.
    while (this.queue.length > 0 && this.state === 'open' && this.queue[0].type === 'stream-data') {
      const {chunk} = this.queue.shift() as {chunk: Buffer}
      const wait = this.feed(chunk)
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
    const current = this.current
    switch (event.type) {
      case 'stream-start': {
        this.clock.headComplete(event.maxLength)
        this.learn(event.head)
        current.exchange ??= this.hooks.open(this.peer, this.abort.signal)
        const decision = await this.clock.own(current.exchange.head(event.head, event.maxLength))
        if ('refusal' in decision) {
          await current.exchange.dispose()
          if (event.maxLength <= ANSWER_AT_END_BYTES) {
            current.refusal = {error: decision.refusal}
          } else {
            current.answered = true
            await this.answer(this.hooks.errorReply(decision.refusal, this.failedRequest()))
          }
        } else if (decision.sink !== null) {
          current.feeder = new SinkFeeder(decision.sink)
        }

        return
      }

      case 'stream-data': {
        const wait = this.feed(event.chunk)
        if (wait) await this.clock.own(wait)
        return
      }

      case 'wait': {
        await this.clock.own(event.done)
        return
      }

      case 'stream-end': {
        return
      }

      case 'message': {
        this.clock.headComplete(event.frameLength)
        if (current.answered) {
          this.current = fresh()
          return
        }

        this.learnMessage(event.message)
        if (current.refusal === null) await this.complete(event.message, event.byteOrder)
        else await this.answer(this.hooks.errorReply(current.refusal.error, this.failedRequest()))
        return
      }

      case 'rejected': {
        this.clock.headComplete(0)
        current.command ??= event.command
        current.filename ??= event.filename
        await current.exchange?.dispose()
        const reply = current.answered
          ? null
          : this.hooks.errorReply(current.refusal?.error ?? event.error, this.failedRequest())
        this.current = fresh()
        if (reply === null) return
        await this.answer(reply, current)
        if (reply.fatal || event.error.fatal) this.linger()
        return
      }

      case 'fatal': {
        await current.exchange?.dispose()
        if (current.answered) {
          this.linger()
          return
        }

        const error = isIssError(event.error)
          ? event.error
          : new IssError(ErrorCode.MALFORMED, 'Malformed message', {fatal: true, cause: event.error})
        const reply = this.hooks.errorReply(error, this.failedRequest())
        await this.answer(reply, current)
        this.linger()
      }
    }
  }

  /** Queues a chunk on the request's sink, or discards it; a promise only when the sink is full. */
  private feed(chunk: Buffer): Promise<void> | undefined {
    this.current.bytes += chunk.length
    return this.current.feeder?.write(chunk)
  }

  private async complete(message: Message, byteOrder: ByteOrder): Promise<void> {
    const current = this.current
    const exchange = current.exchange ?? this.hooks.open(this.peer, this.abort.signal)
    current.exchange = exchange
    if (current.feeder !== null) await this.clock.own(current.feeder.flushed())
    if (Buffer.isBuffer(message.FILE_DATA)) current.bytes += message.FILE_DATA.length
    let reply: Reply
    try {
      reply = await this.clock.own(exchange.complete(message))
    } finally {
      await this.clock.own(exchange.dispose())
    }

    await this.answer(reply, current, byteOrder)
    if (reply.fatal) this.linger()
  }

  /** Remembers COMMAND and FILENAME as soon as they are decoded, for the log and for ERROR echoes. */
  private learn(head: PickleDict): void {
    const command = head.get('COMMAND')
    const filename = head.get('FILENAME')
    if (typeof command === 'string') this.current.command = command
    if (typeof filename === 'string') this.current.filename = filename
    this.current.versioned = head.has('VERSION') && head.get('VERSION') !== null
  }

  private learnMessage(message: Message): void {
    this.current.command = message.COMMAND
    this.current.filename = message.FILENAME
    this.current.versioned = message.VERSION !== null
  }

  private failedRequest(): FailedRequest {
    const {command, filename, versioned} = this.current
    return {command, filename, versioned}
  }

  // ---- output

  private byteOrder(): ByteOrder {
    return this.reader.byteOrder ?? guessByteOrder(this.header)
  }

  /** Sends a reply and logs the request; the request's record is then reset for the next one. */
  private async answer(reply: Reply, request: Current = this.current, byteOrder = this.byteOrder()): Promise<void> {
    if (reply.fileData !== null) this.clock.allow(reply.fileData.length)
    const sentBefore = this.bytesSent
    request.replying = true
    const sent = await this.writer.send(reply, byteOrder)
    const isDownload = reply.fileData !== null
    // An aborted answer is logged with what actually left, frame bytes included.
    const downloaded = sent.complete ? sent.fileDataBytes : this.bytesSent - sentBefore
    this.hooks.onRequestDone?.(
      entryOf(this.peer, request, {
        status: sent.complete ? reply.status : 'ABORTED',
        code: reply.code,
        bytes: isDownload ? downloaded : request.bytes,
      }),
    )
    if (this.current === request && !request.answered) this.current = fresh()
    if (!sent.complete) this.destroy()
  }

  /** Answers one ERROR (E_TIMEOUT) if nothing is being sent, then closes: the request gave up its slot. */
  private cutOff(why: string): void {
    if (this.state !== 'open') return
    if (this.socket.writableLength > 0 || this.current.answered) {
      // A slow reader mid-response: there is no way to slip an ERROR in.
      this.destroy()
      return
    }

    const error = new IssError(ErrorCode.TIMEOUT, `Request too slow: ${why}`, {fatal: true})
    const reply = this.hooks.errorReply(error, this.failedRequest())
    void this.current.exchange?.dispose()
    this.writer.sendNow(reply, this.byteOrder())
    this.report(reply)
    this.linger()
  }

  /**
   * The peer does not speak this protocol: one ERROR in network byte order, which is what the seed
   * reads whatever its machine. A first frame that is not a pickled dict gets the decoder's own
   * reason when it has one (a refused opcode or global, named).
   */
  private refuseForeign(kind: ForeignStart, input: Buffer): void {
    let error = new IssError(ErrorCode.MALFORMED, foreignStartMessage(kind), {fatal: true})
    if (kind === 'other') {
      try {
        this.reader.write(input, [])
      } catch (decodeError) {
        if (isIssError(decodeError)) error = decodeError
      }
    }

    const reply = this.hooks.errorReply(error, {command: null, filename: null, versioned: false})
    this.writer.sendNow(reply, 'big')
    this.report(reply)
    this.linger()
  }

  private report(reply: Reply): void {
    this.hooks.onRequestDone?.(entryOf(this.peer, this.current, reply))
  }

  // ---- request lifetime and closing

  private finishRequest(): void {
    if (!this.clock.requestActive) return
    this.clock.finishRequest()
    this.current = fresh()
    if (this.closeWhenIdle || this.peerEnded) this.endGracefully()
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
    this.lingerBudget = this.reader.announcedRemaining + LINGER_SLACK_BYTES
    this.clock.stop()
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
    this.clock.stop()
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

  private onClosed(): void {
    if (this.state === 'closed') return
    // A request cut off before its answer (the peer left mid-upload) is logged for what it was.
    const isCutOff =
      this.state === 'open' && this.clock.requestActive && !this.current.answered && !this.current.replying
    if (isCutOff && (this.current.command !== null || this.current.bytes > 0)) {
      this.hooks.onRequestDone?.(entryOf(this.peer, this.current, {status: 'ABORTED', code: null}))
    }

    this.state = 'closed'
    this.reader.release()
    this.clock.stop()
    if (this.lingerTimer) clearTimeout(this.lingerTimer)
    this.abort.abort()
    void this.current.exchange?.dispose()
    this.queue.length = 0
    for (const listener of this.closeListeners.splice(0)) listener()
  }
}
