import {isAscii} from 'node:buffer'

import {StreamedStr} from './pickle-globals.js'
import {
  bigintCost,
  COST,
  type CostMeter,
  malformedAt,
  type OpCursor,
  type PickleError,
  type PickleLimits,
  tooLargeAt,
} from './pickle-limits.js'
import type {PickleMachine, StreamPlace} from './pickle-machine.js'
import type {DecodeEvent} from './pickle-tokenizer.js'
import {asciiText, latin1FromUtf8, signedLittleEndian, UnicodeLine} from './pickle-text.js'
import {Op} from './opcodes.js'
import {StreamedBytes} from './values.js'

// LONG1/LONG4 are capped as CPython caps int <-> str conversion: 4300 decimal digits, about 1786 bytes.
const MAX_LONG_BYTES = 1786

type DataKind = 'bytes' | 'utf8' | 'ascii' | 'long'

/** What the bytes of each length-prefixed opcode are; the rest (BINBYTES...) are bytes. */
const DATA_KINDS = new Map<number, DataKind>([
  [Op.LONG1, 'long'],
  [Op.LONG4, 'long'],
  [Op.SHORT_BINSTRING, 'ascii'],
  [Op.BINSTRING, 'ascii'],
  [Op.SHORT_BINUNICODE, 'utf8'],
  [Op.BINUNICODE, 'utf8'],
  [Op.BINUNICODE8, 'utf8'],
])

interface DataRead {
  kind: DataKind
  length: number
  remaining: number
  parts: Buffer[]
  /** Set when the value goes to the sink instead of being held. */
  stream?: {key: string; produced: number; lead: number}
}

/** A UNICODE line in progress, and its stream when it goes to the sink. */
interface TextRead {
  line: UnicodeLine
  stream?: {key: string; produced: number}
}

const utf8Decoder = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})

/**
 * The values whose bytes follow their opcode: length-prefixed data and protocol 0's UNICODE lines.
 * Held, they are charged when announced and pushed when complete; in a stream place (the value of a
 * stream key in the top-level dict) they go out as stream events as they arrive instead.
 */
export class PayloadReader {
  private data?: DataRead
  private text?: TextRead

  constructor(
    private readonly limits: PickleLimits,
    private readonly machine: PickleMachine,
    private readonly meter: CostMeter,
    private readonly cursor: OpCursor,
  ) {}

  /** Bytes of a held value charged when announced that have not arrived yet. */
  get chargedAhead(): number {
    return this.data === undefined || this.data.stream !== undefined ? 0 : this.data.remaining
  }

  /** A value is being read. */
  get active(): boolean {
    return this.data !== undefined || this.text !== undefined
  }

  /** Reads from `i`; `checkEnd` checks a text line's progress against its FRAME. Returns where it stopped. */
  read(chunk: Buffer, i: number, events: DecodeEvent[], checkEnd: (next: number) => void): number {
    return this.data === undefined ? this.readText(chunk, i, events, checkEnd) : this.readData(chunk, i, events)
  }

  private malformed(why: string): PickleError {
    return malformedAt(this.cursor, why)
  }

  private tooLarge(what: string, size: number | bigint, limit: number): PickleError {
    return tooLargeAt(this.cursor, what, size, limit)
  }

  /** The bytes of a length-prefixed value follow (BINBYTES, BINUNICODE, LONG4... by the opcode in progress). */
  startData(length: number, events: DecodeEvent[]): void {
    const kind = DATA_KINDS.get(this.cursor.op) ?? 'bytes'
    const place =
      kind === 'bytes' || kind === 'utf8' ? this.machine.streamPlace(kind === 'bytes' ? 'bytes' : 'str') : null
    // An ambiguous place holds what fits the limit either way; only a larger value must be the top-level one.
    const key = place !== null && (!place.ambiguous || length > this.limits.maxStringBytes) ? place.key : null
    if (key === null) {
      if (kind === 'long') {
        if (length > MAX_LONG_BYTES) throw this.tooLarge('An int', length, MAX_LONG_BYTES)
      } else if (length > this.limits.maxStringBytes) {
        throw this.tooLarge(`A ${kind === 'bytes' ? 'bytes' : 'str'} value`, length, this.limits.maxStringBytes)
      }

      // Charged before the bytes arrive, so that the parts held meanwhile are paid for.
      this.meter.value(this.dataCost(kind, length))
      this.data = {kind, length, remaining: length, parts: []}
    } else {
      // UTF-8 takes one or two bytes per latin-1 byte, so half the length is a floor of the decoded size.
      const floor = kind === 'bytes' ? length : Math.ceil(length / 2)
      if (floor > this.limits.maxStreamBytes) throw this.tooLarge(key, floor, this.limits.maxStreamBytes)
      const head = this.machine.openStream(place!)
      events.push({type: 'stream-start', key, maxLength: Math.min(length, this.limits.maxStreamBytes), head})
      this.data = {kind, length, remaining: length, parts: [], stream: {key, produced: 0, lead: 0}}
    }

    if (length === 0) this.finishData(events)
  }

  private dataCost(kind: DataKind, length: number): number {
    if (kind === 'long') return bigintCost(length)
    return COST.slot + (kind === 'bytes' ? COST.bytes : COST.header) + length
  }

  private readData(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    const data = this.data!
    const take = Math.min(data.remaining, chunk.length - i)
    const piece = chunk.subarray(i, i + take)
    data.remaining -= take
    if (data.stream === undefined) data.parts.push(Buffer.from(piece))
    else if (data.kind === 'bytes') {
      data.stream.produced += take
      if (take > 0) events.push({type: 'stream-data', chunk: piece})
    } else {
      const out = latin1FromUtf8(piece, data.stream, this.cursor)
      this.produced(data.stream, out, events)
    }

    if (data.remaining === 0) this.finishData(events)
    return i + take
  }

  /** Latin-1 bytes of a streamed str go out, within maxStreamBytes. */
  private produced(stream: {key: string; produced: number}, out: Buffer, events: DecodeEvent[]): void {
    stream.produced += out.length
    if (stream.produced > this.limits.maxStreamBytes)
      throw this.tooLarge(stream.key, stream.produced, this.limits.maxStreamBytes)
    if (out.length > 0) events.push({type: 'stream-data', chunk: out})
  }

  private finishData(events: DecodeEvent[]): void {
    const data = this.data!
    this.data = undefined
    if (data.stream !== undefined) {
      const {key, produced} = data.stream
      if (data.stream.lead !== 0) throw this.malformed('a str is not valid UTF-8')
      events.push({type: 'stream-end', length: produced})
      this.machine.pushStreamed(
        data.kind === 'bytes' ? new StreamedBytes(key, produced) : new StreamedStr(key, produced),
      )
      return
    }

    const bytes = data.parts.length === 1 ? data.parts[0] : Buffer.concat(data.parts, data.length)
    const cost = this.dataCost(data.kind, data.length)
    switch (data.kind) {
      case 'bytes': {
        this.machine.pushCharged(bytes, cost)
        break
      }

      case 'utf8': {
        let text: string
        try {
          text = utf8Decoder.decode(bytes)
        } catch {
          throw this.malformed('a str is not valid UTF-8 (lone surrogates are refused)')
        }

        // Text beyond latin-1 is stored as UTF-16: up to twice its UTF-8 length.
        const wide = isAscii(bytes) ? 0 : COST.header + bytes.length
        this.meter.charge(wide)
        this.machine.pushCharged(text, cost + wide)
        break
      }

      case 'ascii': {
        this.machine.pushCharged(asciiText(bytes, this.cursor), cost)
        break
      }

      case 'long': {
        this.machine.pushCharged(signedLittleEndian(bytes), cost)
      }
    }
  }

  // ---- protocol 0 text

  /** A UNICODE line follows. */
  startText(events: DecodeEvent[]): void {
    const place: StreamPlace | null = this.machine.streamPlace('str')
    const key = place === null || place.ambiguous ? null : place.key
    const tooLarge = (size: number) => this.tooLarge('A str value', size, this.limits.maxStringBytes)
    // Held text is charged as it grows (twice its UTF-8 bytes: UTF-16 at worst), at fixed points of the
    // text, so that the charges do not depend on how the bytes were cut into chunks.
    const grow = (bytes: number) => {
      this.meter.charge(bytes)
    }

    this.text = {line: new UnicodeLine(this.cursor, key !== null, this.limits.maxStringBytes, tooLarge, grow)}
    if (key !== null) {
      const head = this.machine.openStream(place!)
      events.push({type: 'stream-start', key, maxLength: this.limits.maxStreamBytes, head})
      this.text.stream = {key, produced: 0}
    }
  }

  private readText(chunk: Buffer, i: number, events: DecodeEvent[], checkEnd: (next: number) => void): number {
    const {line, stream} = this.text!
    const {next, finished, out} = line.read(chunk, i)
    checkEnd(next)
    if (stream !== undefined) this.produced(stream, out!, events)
    if (finished) {
      this.text = undefined
      if (stream === undefined) {
        const text = line.text()
        // Built from pieces (String.fromCodePoint, join): room for the pieces' headers too.
        const size = COST.slot + 3 * COST.header + 2 * line.utf8Bytes
        this.meter.value(size - line.chargedBytes)
        this.machine.pushCharged(text, size)
      } else {
        events.push({type: 'stream-end', length: stream.produced})
        this.machine.pushStreamed(new StreamedStr(stream.key, stream.produced))
      }
    }

    return next
  }
}
