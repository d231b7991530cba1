import {errors, type IssError, isIssError} from '../errors.js'
import type {DecodeBudget} from './decode-budget.js'
import {type ByteOrder, FRAME_HEADER_BYTES} from './frame-header.js'
import {type Message, toMessage} from './message.js'
import {type DecodeEvent, PickleDecoder, type PickleDecoderOptions, type PickleLimits} from './pickle-decoder.js'
import {type PickleDict, PickleTuple, type PickleValue} from './values.js'

/** What a reader hands out, in wire order. */
export type ReaderEvent =
  | DecodeEvent
  | {type: 'message'; message: Message; byteOrder: ByteOrder; frameLength: number}
  /** The frame was whole and a well-formed pickle, but the message failed validation: the connection can continue. */
  | {type: 'rejected'; error: IssError; command: string | null; filename: string | null}

export interface MessageReaderOptions {
  /** Largest pickle a frame header may announce; refused from the header alone. */
  maxFrameBytes: number
  /** Largest streamed value (decoded FILE_DATA); overrides limits.maxStreamBytes. */
  maxStreamBytes?: number
  /** 'detect' (the default) reads the connection's byte order from its first frame. */
  byteOrder?: ByteOrder | 'detect'
  limits?: Partial<PickleLimits>
  streamKeys?: readonly string[]
  /**
   * Decode memory shared with other readers (a server's connections): each frame's decoder reserves
   * from it as it grows and gives it back when the frame is done or failed; past it, E_BUSY (fatal).
   */
  budget?: DecodeBudget
}

/** One reading of a frame header; `order` is undefined when both readings agree (a palindromic header). */
interface Candidate {
  order: ByteOrder | undefined
  length: number
}

// Shortest pickle that can be a message: EMPTY_DICT STOP.
const MIN_PICKLE_BYTES = 2

function optionalString(dict: PickleDict, key: string): string | null {
  const value = dict.get(key)
  return typeof value === 'string' ? value : null
}

function typeName(value: PickleValue): string {
  if (value === null) return 'None'
  if (Array.isArray(value)) return 'list'
  if (Buffer.isBuffer(value)) return 'bytes'
  if (value instanceof PickleTuple) return 'tuple'
  if (typeof value === 'object') return 'bytes'
  return {bigint: 'int', boolean: 'bool', number: 'float', string: 'str'}[typeof value as string] ?? typeof value
}

/**
 * Turns a connection's bytes into messages: 4-byte length frames, each holding one pickled dict,
 * decoded as the bytes arrive (FILE_DATA streamed as events). Fed chunks of any size; a frame may
 * span chunks and a chunk may hold several frames.
 *
 * Byte order: on the first frame both readings of the header are tried; those over maxFrameBytes
 * or under 2 bytes are impossible, and if two remain, where the pickle's STOP lands decides. Later
 * frames use the order found. A header that reads the same both ways (00 01 01 00) leaves the order
 * open (byteOrder stays undefined, the message event says 'big') until a later frame shows it.
 */
export class MessageReader {
  private readonly maxFrameBytes: number
  private readonly decoderOptions: PickleDecoderOptions
  private order?: ByteOrder
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES)
  private headerHave = 0
  private candidates: Candidate[] = []
  /** While detecting: the largest header reading that was over the limit, 0 if none. */
  private overLimit = 0
  private bodyReceived = 0
  private decoder?: PickleDecoder
  private failed?: Error
  private remaining = 0

  constructor(options: MessageReaderOptions) {
    this.maxFrameBytes = options.maxFrameBytes
    const limits = {...options.limits}
    if (options.maxStreamBytes !== undefined) limits.maxStreamBytes = options.maxStreamBytes
    this.decoderOptions = {limits, streamKeys: options.streamKeys, budget: options.budget}
    if (options.byteOrder !== undefined && options.byteOrder !== 'detect') this.order = options.byteOrder
  }

  /** The connection's byte order once a frame has shown it (or the one given). */
  get byteOrder(): ByteOrder | undefined {
    return this.order
  }

  /** True while bytes of an unfinished frame have arrived (a request is in progress). */
  get inFrame(): boolean {
    return this.headerHave > 0
  }

  /** After a fatal error: bytes the peer announced for the current frame that have not arrived yet; 0 if unknown. */
  get announcedRemaining(): number {
    return this.failed === undefined ? 0 : this.remaining
  }

  /**
   * Consumes the whole chunk, pushing events in order. Throws a fatal IssError (E_MALFORMED,
   * E_TOO_LARGE) on a protocol error; after that the reader is unusable.
   */
  write(chunk: Buffer, events: ReaderEvent[]): void {
    if (this.failed !== undefined) throw this.failed
    let i = 0
    try {
      while (i < chunk.length) {
        if (this.decoder === undefined) {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerHave, chunk.length - i)
          chunk.copy(this.header, this.headerHave, i, i + take)
          this.headerHave += take
          i += take
          if (this.headerHave < FRAME_HEADER_BYTES) break
          this.startFrame(chunk.length - i)
        } else {
          i = this.feed(chunk, i, events)
        }
      }
    } catch (error) {
      this.failed = error instanceof Error ? error : new Error(String(error))
      this.release()
      throw this.failed
    }
  }

  /**
   * Gives the shared budget back what the frame in progress reserved. Call it when the connection
   * closes mid-frame; finished and failed frames give theirs back by themselves.
   */
  release(): void {
    this.decoder?.release()
  }

  private startFrame(available: number): void {
    const little = this.header.readUInt32LE(0)
    const big = this.header.readUInt32BE(0)
    let readings: Candidate[]
    if (this.order !== undefined) readings = [{order: this.order, length: this.order === 'big' ? big : little}]
    else if (little === big) readings = [{order: undefined, length: big}]
    else
      readings = [
        {order: 'little', length: little},
        {order: 'big', length: big},
      ]
    const over = readings.filter((r) => r.length > this.maxFrameBytes).map((r) => r.length)
    this.overLimit = Math.max(0, ...over)
    this.candidates = readings.filter((r) => r.length >= MIN_PICKLE_BYTES && r.length <= this.maxFrameBytes)
    if (this.candidates.length === 0) {
      if (over.length > 0) {
        // Drain by the larger reading: waiting for bytes that never come costs only the linger time.
        this.remaining = Math.max(0, this.overLimit - available)
        throw errors.tooLarge('Frame', Math.min(...over), this.maxFrameBytes, {fatal: true})
      }

      throw errors.malformed(`a frame header announces ${Math.max(little, big)} bytes, too short for a pickle`)
    }

    this.settleOrder()
    this.bodyReceived = 0
    this.decoder = new PickleDecoder(this.decoderOptions)
  }

  /** One candidate left: its order is the connection's. */
  private settleOrder(): void {
    if (this.candidates.length === 1 && this.candidates[0].order !== undefined) this.order ??= this.candidates[0].order
  }

  private feed(chunk: Buffer, i: number, events: ReaderEvent[]): number {
    const decoder = this.decoder!
    const frameMax = Math.max(...this.candidates.map((c) => c.length))
    const take = Math.min(chunk.length - i, frameMax - this.bodyReceived)
    const decoded: DecodeEvent[] = []
    let used: number
    try {
      used = decoder.write(chunk.subarray(i, i + take), decoded)
    } catch (error) {
      this.remaining = Math.max(0, frameMax - this.bodyReceived - take)
      throw error
    } finally {
      for (const event of decoded) {
        // The frame bounds a streamed value better than the opcode's length field can (protocol 0 has none).
        if (event.type === 'stream-start')
          events.push({...event, maxLength: Math.min(event.maxLength, frameMax - this.bodyReceived)})
        else events.push(event)
      }
    }

    this.bodyReceived += used
    if (decoder.done) {
      const match = this.candidates.find((c) => c.length === this.bodyReceived)
      if (match === undefined) {
        this.remaining = Math.max(0, frameMax - this.bodyReceived - (take - used))
        const lengths = this.candidates.map((c) => c.length).join(' or ')
        throw errors.malformed(`the pickle ends at byte ${this.bodyReceived} of a ${lengths}-byte frame`)
      }

      this.finishFrame(match, events)
      return i + used
    }

    this.candidates = this.candidates.filter((c) => c.length > this.bodyReceived)
    if (this.candidates.length === 0) {
      if (this.overLimit > this.bodyReceived) {
        // The header's other reading was right after all, and it is over the limit.
        this.remaining = this.overLimit - this.bodyReceived
        throw errors.tooLarge('Frame', this.overLimit, this.maxFrameBytes, {fatal: true})
      }

      this.remaining = 0
      throw errors.malformed(`the ${this.bodyReceived}-byte frame ends before the pickle's STOP`)
    }

    this.settleOrder()
    return i + used
  }

  private finishFrame(match: Candidate, events: ReaderEvent[]): void {
    const value = this.decoder!.value
    this.decoder!.release()
    if (match.order !== undefined) this.order ??= match.order
    this.decoder = undefined
    this.headerHave = 0
    this.candidates = []
    this.remaining = 0
    if (!(value instanceof Map)) throw errors.malformed(`the message is a ${typeName(value)}, not a dict`)
    let message: Message
    try {
      message = toMessage(value)
    } catch (error) {
      if (!isIssError(error) || error.fatal) throw error
      events.push({
        type: 'rejected',
        error,
        command: optionalString(value, 'COMMAND'),
        filename: optionalString(value, 'FILENAME'),
      })
      return
    }

    events.push({type: 'message', message, byteOrder: match.order ?? this.order ?? 'big', frameLength: match.length})
  }
}
