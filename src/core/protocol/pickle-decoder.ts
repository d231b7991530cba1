import {ErrorCode, type ErrorCodeValue, IssError} from '../errors.js'
import {Op, opName} from './opcodes.js'
import {type PickleDict, PickleTuple, type PickleValue, StreamedBytes} from './values.js'

/**
 * Bounds on what one pickle may make the decoder hold. Sizes are decoded bytes (UTF-8 for str).
 * Depth is an E_MALFORMED refusal; every other limit is E_TOO_LARGE.
 */
export interface PickleLimits {
  /** Nesting of containers, and of MARKs open at once (plus a little room for the bytes wrappers). */
  maxDepth: number
  /**
   * Values the pickle creates in total, memo references and memo entries included; so also the
   * items of any one container.
   */
  maxItems: number
  /** One str, bytes or text-form number that is not streamed. */
  maxStringBytes: number
  /** Everything not streamed, counting a memo reference again each time (8 bytes per value plus its data). */
  maxTotalBytes: number
  /** One streamed value, decoded. */
  maxStreamBytes: number
}

export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxDepth: 64,
  maxItems: 1_000_000,
  maxStringBytes: 1024 * 1024,
  maxTotalBytes: 16 * 1024 * 1024,
  maxStreamBytes: Number.MAX_SAFE_INTEGER,
})

/** What the decoder hands out besides the value: a streamed bytes value, chunk by chunk, in order. */
export type DecodeEvent =
  /**
   * `head`: the top-level keys decoded before the streamed value (in the dict or still pending on
   * the stack before SETITEMS), so that a consumer can decide about the value before storing a byte.
   */
  | {type: 'stream-start'; key: string; maxLength: number; head: PickleDict}
  | {type: 'stream-data'; chunk: Buffer}
  | {type: 'stream-end'; length: number}

/** A pickle that is malformed, outside the subset (E_MALFORMED) or over a limit (E_TOO_LARGE). Always fatal. */
export class PickleError extends IssError {
  /** The opcode in progress, or the refused global, e.g. 'REDUCE', 'GLOBAL os.system'. */
  readonly opcode?: string

  constructor(code: ErrorCodeValue, message: string, opcode?: string) {
    super(code, message, {fatal: true})
    this.name = 'PickleError'
    if (opcode !== undefined) this.opcode = opcode
  }
}

// Python ints are capped as CPython caps int <-> str conversion: 4300 decimal digits, about 1786 bytes.
const MAX_INT_DIGITS = 4300
const MAX_LONG_BYTES = 1786
// Every value costs this much toward maxTotalBytes, on top of its data.
const VALUE_COST = 8
// Room above maxDepth for open MARKs: the top-level dict's and the bytes wrappers' (bytearray, encode).
const MARK_SLACK = 4
const GLOBAL_LINE_MAX = 256

const S_OPCODE = 0
const S_FIXED = 1
const S_LINE = 2
const S_DATA = 3
const S_TEXT = 4
const S_DONE = 5

type DataKind = 'bytes' | 'utf8' | 'ascii' | 'long'

/** A callable from the allowlist, waiting on the stack for REDUCE. */
class GlobalRef {
  constructor(
    readonly kind: 'encode' | 'bytes' | 'bytearray',
    readonly label: string,
  ) {}
}

/** A str whose latin-1 bytes went to the sink (the argument of _codecs.encode at protocols 0 to 2). */
class StreamedStr {
  constructor(
    readonly key: string,
    readonly length: number,
  ) {}
}

/** An argument tuple holding a streamed value: only REDUCE may take it. */
class PendingArgs {
  constructor(readonly items: readonly Entry[]) {}
}

type Entry = PickleValue | GlobalRef | StreamedStr | PendingArgs

const ALLOWED_GLOBALS = new Map<string, GlobalRef['kind']>([
  ['_codecs\nencode', 'encode'],
  ['builtins\nbytes', 'bytes'],
  ['__builtin__\nbytes', 'bytes'],
  ['builtins\nbytearray', 'bytearray'],
  ['__builtin__\nbytearray', 'bytearray'],
])

const utf8Decoder = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})

function isContainer(value: Entry): value is PickleValue[] | PickleDict | PickleTuple {
  return Array.isArray(value) || value instanceof Map || value instanceof PickleTuple
}

function isStreamed(value: Entry): boolean {
  return value instanceof StreamedBytes || value instanceof StreamedStr || value instanceof PendingArgs
}

function typeName(value: Entry): string {
  if (value === null) return 'None'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'bigint') return 'int'
  if (typeof value === 'number') return 'float'
  if (typeof value === 'string') return 'str'
  if (Buffer.isBuffer(value)) return 'bytes'
  if (Array.isArray(value)) return 'list'
  if (value instanceof Map) return 'dict'
  if (value instanceof PickleTuple) return 'tuple'
  if (value instanceof GlobalRef) return value.label
  return 'streamed value'
}

/** Printable, bounded form of text from the peer, for error messages. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replaceAll(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return clean.length > 80 ? `${clean.slice(0, 80)}...` : clean
}

function hexDigit(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37
  return -1
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4
}

/** Little-endian two's complement (LONG1, LONG4). */
function signedLittleEndian(data: Buffer): bigint {
  if (data.length === 0) return 0n
  const value = BigInt('0x' + Buffer.from(data).reverse().toString('hex'))
  return (data.at(-1)! & 0x80) === 0 ? value : value - (1n << BigInt(8 * data.length))
}

interface DataRead {
  kind: DataKind
  length: number
  remaining: number
  parts: Buffer[]
  /** Set when the value goes to the sink instead of being held. */
  stream?: {key: string; produced: number; lead: number}
}

/** Protocol 0's UNICODE: a raw-unicode-escape line, decoded as it arrives. */
interface TextRead {
  stream?: {key: string; produced: number}
  codes: number[]
  parts: string[]
  utf8Bytes: number
  /** 0 plain, 1 after a backslash, 2 in the hex digits of \u or \U. */
  mode: 0 | 1 | 2
  hexLeft: number
  hexValue: number
}

/**
 * An incremental decoder for the pickle subset of DESIGN.md, fed Buffers of any size. Nothing is
 * executed: the allowed globals are recognised by name and applied here. A bytes value that directly
 * follows a stream key in the top-level dict goes out as stream events as it arrives and is replaced
 * by a StreamedBytes in the result.
 */
export class PickleDecoder {
  private readonly limits: PickleLimits
  private readonly streamKeys: ReadonlySet<string>

  private state = S_OPCODE
  private base = 0
  private error?: PickleError
  private result: PickleValue = null

  // The opcode in progress.
  private op = 0
  private opStart = 0
  private readonly fixed = Buffer.alloc(8)
  private fixedNeed = 0
  private fixedHave = 0
  private lineParts: Buffer[] = []
  private lineLength = 0
  private lineMax = 0
  private globalModule?: Buffer
  private data?: DataRead
  private text?: TextRead
  private frameEnd?: number

  // The machine.
  private readonly stack: Entry[] = []
  private readonly sizes: number[] = []
  private readonly marks: number[] = []
  private readonly memo = new Map<number, {value: Entry; size: number}>()
  private readonly containerSize = new Map<object, number>()
  private readonly containerDepth = new Map<object, number>()
  /**
   * Lists and dicts a memo reference has handed out: they never change again. That is how CPython's
   * output behaves, and it rules out cycles: a container can only come to hold itself through a memo
   * reference to it followed by an append or setitem on it.
   */
  private readonly frozen = new Set<object>()
  private root?: PickleDict
  private items = 0
  private totalBytes = 0
  private readonly streamed = new Set<string>()
  private placed = 0

  constructor(options: {limits?: Partial<PickleLimits>; streamKeys?: readonly string[]} = {}) {
    this.limits = {...DEFAULT_PICKLE_LIMITS, ...options.limits}
    this.streamKeys = new Set(options.streamKeys ?? ['FILE_DATA'])
  }

  get done(): boolean {
    return this.state === S_DONE
  }

  /** The decoded top-level value once done. */
  get value(): PickleValue {
    if (this.state !== S_DONE) throw new Error('PickleDecoder: the pickle is not complete')
    return this.result
  }

  /** Total bytes consumed so far. */
  get position(): number {
    return this.base
  }

  /** The opcode a truncated pickle stopped in, if any (for the caller's error message). */
  get pendingOpcode(): string | undefined {
    return this.state === S_OPCODE || this.state === S_DONE ? undefined : opName(this.op)
  }

  /**
   * Consumes bytes up to and including STOP; returns how many bytes of `chunk` it consumed. Pushes
   * stream events into `events`. Throws PickleError; after that the decoder is unusable.
   */
  write(chunk: Buffer, events: DecodeEvent[]): number {
    if (this.error) throw this.error
    let i = 0
    try {
      while (i < chunk.length && this.state !== S_DONE) {
        switch (this.state) {
          case S_OPCODE: {
            i = this.onOpcode(chunk, i, events)
            break
          }

          case S_FIXED: {
            i = this.readFixed(chunk, i, events)
            break
          }

          case S_LINE: {
            i = this.readLine(chunk, i)
            break
          }

          case S_DATA: {
            i = this.readData(chunk, i, events)
            break
          }

          default: {
            i = this.readText(chunk, i, events)
          }
        }
      }
    } catch (error) {
      this.base += i
      this.error = error instanceof PickleError ? error : this.malformed(`decoder failure: ${(error as Error).message}`)
      throw this.error
    }

    this.base += i
    return i
  }

  // ---- errors

  private malformed(why: string, opcode: string = opName(this.op)): PickleError {
    return new PickleError(ErrorCode.MALFORMED, `Malformed message: ${why} (pickle byte ${this.opStart})`, opcode)
  }

  private tooLarge(what: string, size: number | bigint, limit: number): PickleError {
    return new PickleError(
      ErrorCode.TOO_LARGE,
      `${what} is ${size} bytes, over the limit of ${limit} bytes`,
      opName(this.op),
    )
  }

  private refusedOpcode(code: number): PickleError {
    const name = opName(code)
    const known = !name.startsWith('unknown')
    return this.malformed(known ? `refused opcode ${name}` : name, known ? name : `0x${code.toString(16)}`)
  }

  // ---- reading bytes

  private onOpcode(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    const code = chunk[i]
    this.op = code
    this.opStart = this.base + i
    if (this.frameEnd !== undefined) {
      if (this.opStart === this.frameEnd) this.frameEnd = undefined
      else if (this.opStart > this.frameEnd) throw this.malformed('an opcode crosses the end of its FRAME')
    }

    switch (code) {
      case Op.BININT1:
      case Op.BINGET:
      case Op.BINPUT:
      case Op.SHORT_BINSTRING:
      case Op.SHORT_BINBYTES:
      case Op.SHORT_BINUNICODE:
      case Op.LONG1:
      case Op.PROTO: {
        return this.expectFixed(1, chunk, i + 1, events)
      }

      case Op.BININT2: {
        return this.expectFixed(2, chunk, i + 1, events)
      }

      case Op.BININT:
      case Op.LONG_BINGET:
      case Op.LONG_BINPUT:
      case Op.BINSTRING:
      case Op.BINBYTES:
      case Op.BINUNICODE:
      case Op.LONG4: {
        return this.expectFixed(4, chunk, i + 1, events)
      }

      case Op.BINFLOAT:
      case Op.BINUNICODE8:
      case Op.BINBYTES8:
      case Op.BYTEARRAY8:
      case Op.FRAME: {
        return this.expectFixed(8, chunk, i + 1, events)
      }

      case Op.INT:
      case Op.LONG: {
        return this.expectLine(MAX_INT_DIGITS + 3, i + 1)
      }

      case Op.FLOAT: {
        return this.expectLine(64, i + 1)
      }

      case Op.PUT:
      case Op.GET: {
        return this.expectLine(24, i + 1)
      }

      case Op.STRING: {
        return this.expectLine(4 * this.limits.maxStringBytes + 3, i + 1)
      }

      case Op.GLOBAL: {
        this.globalModule = undefined
        return this.expectLine(GLOBAL_LINE_MAX, i + 1)
      }

      case Op.UNICODE: {
        this.startText(events)
        return i + 1
      }

      default: {
        this.execute(code)
        return i + 1
      }
    }
  }

  private expectFixed(need: number, chunk: Buffer, i: number, events: DecodeEvent[]): number {
    this.fixedNeed = need
    this.fixedHave = 0
    this.state = S_FIXED
    return this.readFixed(chunk, i, events)
  }

  private readFixed(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    const take = Math.min(this.fixedNeed - this.fixedHave, chunk.length - i)
    chunk.copy(this.fixed, this.fixedHave, i, i + take)
    this.fixedHave += take
    i += take
    if (this.fixedHave === this.fixedNeed) {
      this.state = S_OPCODE
      const end = this.base + i
      if (this.frameEnd !== undefined && end > this.frameEnd)
        throw this.malformed('an opcode crosses the end of its FRAME')
      this.onFixed(this.fixed.subarray(0, this.fixedNeed), end, events)
    }

    return i
  }

  private expectLine(max: number, i: number): number {
    this.lineParts = []
    this.lineLength = 0
    this.lineMax = max
    this.state = S_LINE
    return i
  }

  private readLine(chunk: Buffer, i: number): number {
    const newline = chunk.indexOf(0x0a, i)
    const end = newline === -1 ? chunk.length : newline
    this.lineLength += end - i
    if (this.lineLength > this.lineMax) {
      if (this.op === Op.STRING) throw this.tooLarge('A STRING line', this.lineLength, this.lineMax)
      throw this.malformed(`the ${opName(this.op)} line is longer than ${this.lineMax} bytes`)
    }

    this.lineParts.push(Buffer.from(chunk.subarray(i, end)))
    if (newline === -1) return chunk.length
    const line = this.lineParts.length === 1 ? this.lineParts[0] : Buffer.concat(this.lineParts)
    this.lineParts = []
    this.lineLength = 0
    this.state = S_OPCODE
    if (this.frameEnd !== undefined && this.base + newline + 1 > this.frameEnd)
      throw this.malformed('an opcode crosses the end of its FRAME')
    this.onLine(line)
    return newline + 1
  }

  private startData(kind: DataKind, length: number, end: number, events: DecodeEvent[]): void {
    if (this.frameEnd !== undefined && end + length > this.frameEnd)
      throw this.malformed(`a ${length}-byte value crosses the end of its FRAME`)
    const place = kind === 'bytes' || kind === 'utf8' ? this.streamPlace(kind === 'bytes' ? 'bytes' : 'str') : null
    // An ambiguous place holds what fits the limit either way; only a larger value must be the top-level one.
    const key = place !== null && (!place.ambiguous || length > this.limits.maxStringBytes) ? place.key : null
    if (key === null) {
      if (kind === 'long') {
        if (length > MAX_LONG_BYTES) throw this.tooLarge('An int', length, MAX_LONG_BYTES)
      } else if (length > this.limits.maxStringBytes) {
        throw this.tooLarge(`A ${kind === 'bytes' ? 'bytes' : 'str'} value`, length, this.limits.maxStringBytes)
      }

      this.count(length)
      this.data = {kind, length, remaining: length, parts: []}
    } else {
      // UTF-8 takes one or two bytes per latin-1 byte, so half the length is a floor of the decoded size.
      const floor = kind === 'bytes' ? length : Math.ceil(length / 2)
      if (floor > this.limits.maxStreamBytes) throw this.tooLarge(key, floor, this.limits.maxStreamBytes)
      this.beginStream(place!)
      events.push({
        type: 'stream-start',
        key,
        maxLength: Math.min(length, this.limits.maxStreamBytes),
        head: this.headBefore(place!.keyIndex),
      })
      this.data = {
        kind,
        length,
        remaining: length,
        parts: [],
        stream: {key, produced: 0, lead: 0},
      }
    }

    this.state = S_DATA
    if (length === 0) this.finishData(events)
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
    } else this.transcodeUtf8(piece, data.stream, events)
    if (data.remaining === 0) this.finishData(events)
    return i + take
  }

  /**
   * UTF-8 to latin-1 for the str argument of _codecs.encode, streamed. Only 1-byte and C2/C3 2-byte
   * sequences can be latin-1; a lead byte cut off at the end of a chunk waits in `lead`.
   */
  private transcodeUtf8(piece: Buffer, stream: {key: string; produced: number; lead: number}, events: DecodeEvent[]) {
    const n = piece.length
    const out = Buffer.allocUnsafe(n + 1)
    let o = 0
    let lead = stream.lead
    for (let k = 0; k < n; k++) {
      const byte = piece[k]
      if (lead !== 0) {
        if ((byte & 0xc0) !== 0x80) throw this.malformed('a str is not valid UTF-8')
        out[o++] = ((lead & 0x03) << 6) | (byte & 0x3f)
        lead = 0
      } else if (byte < 0x80) out[o++] = byte
      else if (byte === 0xc2 || byte === 0xc3) lead = byte
      else if (byte >= 0xc4 && byte <= 0xf4)
        throw this.malformed("_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
      else throw this.malformed('a str is not valid UTF-8')
    }

    stream.lead = lead
    stream.produced += o
    if (stream.produced > this.limits.maxStreamBytes)
      throw this.tooLarge(stream.key, stream.produced, this.limits.maxStreamBytes)
    if (o > 0) events.push({type: 'stream-data', chunk: out.subarray(0, o)})
  }

  private finishData(events: DecodeEvent[]): void {
    const data = this.data!
    this.data = undefined
    this.state = S_OPCODE
    if (data.stream !== undefined) {
      const {key, produced} = data.stream
      if (data.stream.lead !== 0) throw this.malformed('a str is not valid UTF-8')
      events.push({type: 'stream-end', length: produced})
      if (data.kind === 'bytes') this.push(new StreamedBytes(key, produced), 0)
      else this.push(new StreamedStr(key, produced), 0)
      return
    }

    const bytes = data.parts.length === 1 ? data.parts[0] : Buffer.concat(data.parts, data.length)
    switch (data.kind) {
      case 'bytes': {
        this.push(bytes, VALUE_COST + bytes.length)
        break
      }

      case 'utf8': {
        let text: string
        try {
          text = utf8Decoder.decode(bytes)
        } catch {
          throw this.malformed('a str is not valid UTF-8 (lone surrogates are refused)')
        }

        this.push(text, VALUE_COST + bytes.length)
        break
      }

      case 'ascii': {
        this.push(this.ascii(bytes), VALUE_COST + bytes.length)
        break
      }

      case 'long': {
        this.push(signedLittleEndian(bytes), VALUE_COST + bytes.length)
      }
    }
  }

  /** Python 3 reads protocol 0 to 2 STRING opcodes as ASCII str. */
  private ascii(bytes: Buffer): string {
    for (const byte of bytes) if (byte > 0x7f) throw this.malformed('a STRING value is not ASCII')
    return bytes.toString('latin1')
  }

  private startText(events: DecodeEvent[]): void {
    const place = this.streamPlace('str')
    const key = place === null || place.ambiguous ? null : place.key
    this.text = {codes: [], parts: [], utf8Bytes: 0, mode: 0, hexLeft: 0, hexValue: 0}
    if (key !== null) {
      this.beginStream(place!)
      events.push({
        type: 'stream-start',
        key,
        maxLength: this.limits.maxStreamBytes,
        head: this.headBefore(place!.keyIndex),
      })
      this.text.stream = {key, produced: 0}
    }

    this.state = S_TEXT
  }

  private readText(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    const text = this.text!
    const stream = text.stream
    // One byte more than the input: a backslash left pending by the previous chunk comes out here, before
    // this chunk's first byte, when it turns out not to start an escape.
    const out = stream === undefined ? undefined : Buffer.allocUnsafe(chunk.length - i + 1)
    let o = 0
    let finished = false
    const emit = (codePoint: number) => {
      if (codePoint >= 0xd8_00 && codePoint <= 0xdf_ff) throw this.malformed('a str holds a lone surrogate (refused)')
      if (out === undefined) {
        text.codes.push(codePoint)
        text.utf8Bytes += utf8Length(codePoint)
        if (text.codes.length >= 8192) {
          text.parts.push(String.fromCodePoint(...text.codes))
          text.codes.length = 0
        }
      } else {
        if (codePoint > 0xff) throw this.malformed("_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
        out[o++] = codePoint
      }
    }

    // Streamed, plain bytes are latin-1 already: copy runs up to the next backslash or the line's end.
    const newline = out === undefined ? -1 : chunk.indexOf(0x0a, i)
    const lineEnd = newline === -1 ? chunk.length : newline
    for (; i < chunk.length; i++) {
      if (out !== undefined && text.mode === 0 && i < lineEnd) {
        const found = chunk.subarray(i, lineEnd).indexOf(0x5c)
        const runEnd = found === -1 ? lineEnd : i + found
        o += chunk.copy(out, o, i, runEnd)
        i = runEnd
        if (i === chunk.length) break
      }

      const byte = chunk[i]
      if (text.mode === 0) {
        if (byte === 0x0a) {
          finished = true
          i++
          break
        }

        if (byte === 0x5c) text.mode = 1
        else emit(byte)
      } else if (text.mode === 1) {
        if (byte === 0x75 || byte === 0x55) {
          text.mode = 2
          text.hexLeft = byte === 0x75 ? 4 : 8
          text.hexValue = 0
        } else {
          // Not an escape: the backslash stands for itself, and a newline still ends the line.
          emit(0x5c)
          text.mode = 0
          if (byte === 0x0a) {
            finished = true
            i++
            break
          }

          emit(byte)
        }
      } else {
        const digit = hexDigit(byte)
        if (digit < 0) throw this.malformed('truncated \\uXXXX escape in a UNICODE line')
        text.hexValue = text.hexValue * 16 + digit
        if (--text.hexLeft === 0) {
          if (text.hexValue > 0x10_ff_ff) throw this.malformed('\\Uxxxxxxxx out of range in a UNICODE line')
          text.mode = 0
          emit(text.hexValue)
        }
      }

      if (out === undefined && text.utf8Bytes > this.limits.maxStringBytes)
        throw this.tooLarge('A str value', text.utf8Bytes, this.limits.maxStringBytes)
    }

    if (this.frameEnd !== undefined && this.base + i > this.frameEnd)
      throw this.malformed('an opcode crosses the end of its FRAME')
    if (stream !== undefined) {
      stream.produced += o
      if (stream.produced > this.limits.maxStreamBytes)
        throw this.tooLarge(stream.key, stream.produced, this.limits.maxStreamBytes)
      if (o > 0) events.push({type: 'stream-data', chunk: out!.subarray(0, o)})
    }

    if (finished) {
      this.text = undefined
      this.state = S_OPCODE
      if (stream === undefined) {
        if (text.codes.length > 0) text.parts.push(String.fromCodePoint(...text.codes))
        this.count(text.utf8Bytes)
        this.push(text.parts.join(''), VALUE_COST + text.utf8Bytes)
      } else {
        events.push({type: 'stream-end', length: stream.produced})
        this.push(new StreamedStr(stream.key, stream.produced), 0)
      }
    }

    return i
  }

  // ---- streaming

  /**
   * Where the value about to be read goes, when that may be the value of a stream key in the
   * top-level dict: directly, or inside the bytes wrappers CPython writes ([bytearray (] [_codecs.encode (]).
   * Ambiguous when the value before the key is a dict that can still take items: in
   * [root, MARK, k, {..}, 'FILE_DATA', value] the next opcode may be SETITEM into that dict.
   */
  private streamPlace(payload: 'bytes' | 'str'): {key: string; keyIndex: number; ambiguous: boolean} | null {
    const root = this.root
    if (root === undefined || this.streamKeys.size === 0) return null
    const {stack, marks} = this
    let j = stack.length
    let m = marks.length - 1
    const wrappers: GlobalRef[] = []
    for (;;) {
      const markHere = m >= 0 && marks[m] === j
      const below = j > 0 ? stack[j - 1] : undefined
      if (below instanceof GlobalRef && wrappers.length < 2) {
        if (markHere) m--
        wrappers.push(below)
        j--
        continue
      }

      if (markHere) return null
      break
    }

    const [inner, outer] = wrappers
    const wants = inner?.kind === 'encode' ? 'str' : 'bytes'
    if (wants !== payload) return null
    if (outer !== undefined && (outer.kind === 'encode' || inner.kind !== 'encode')) return null
    const keyIndex = j - 1
    const key = stack[keyIndex]
    if (typeof key !== 'string' || !this.streamKeys.has(key) || stack[0] !== root) return null
    // SETITEM form: [root, key]; SETITEMS form: [root, MARK, k, v, ..., key].
    const inSetItem = m === -1 && keyIndex === 1
    const inSetItems = m === 0 && marks[0] === 1 && (keyIndex - 1) % 2 === 0
    if (!inSetItem && !inSetItems) return null
    const before = stack[keyIndex - 1]
    const ambiguous = keyIndex > 1 && before instanceof Map && !this.frozen.has(before)
    return {key, keyIndex, ambiguous}
  }

  /** The top-level items set so far plus the key/value pairs waiting for SETITEMS below `keyIndex`. */
  private headBefore(keyIndex: number): PickleDict {
    const head: PickleDict = new Map(this.root)
    for (let k = 1; k + 1 < keyIndex; k += 2) {
      const key = this.stack[k]
      const value = this.stack[k + 1]
      if (typeof key === 'string' && !(value instanceof GlobalRef || isStreamed(value)))
        head.set(key, value as PickleValue)
    }

    return head
  }

  private beginStream({key, keyIndex}: {key: string; keyIndex: number}): void {
    const pending = this.stack.slice(1, keyIndex).some((entry, k) => k % 2 === 0 && entry === key)
    if (pending || this.streamed.has(key) || this.root!.has(key))
      throw this.malformed(`duplicate dict key '${shown(key)}'`)
    this.streamed.add(key)
  }

  // ---- arguments

  private onFixed(arg: Buffer, end: number, events: DecodeEvent[]): void {
    switch (this.op) {
      case Op.BININT1: {
        this.pushNew(BigInt(arg[0]))
        break
      }

      case Op.BININT2: {
        this.pushNew(BigInt(arg.readUInt16LE(0)))
        break
      }

      case Op.BININT: {
        this.pushNew(BigInt(arg.readInt32LE(0)))
        break
      }

      case Op.BINFLOAT: {
        this.pushNew(arg.readDoubleBE(0))
        break
      }

      case Op.BINGET: {
        this.memoGet(arg[0])
        break
      }

      case Op.LONG_BINGET: {
        this.memoGet(arg.readUInt32LE(0))
        break
      }

      case Op.BINPUT: {
        this.memoPut(arg[0])
        break
      }

      case Op.LONG_BINPUT: {
        this.memoPut(arg.readUInt32LE(0))
        break
      }

      case Op.PROTO: {
        if (this.opStart !== 0) throw this.malformed('PROTO is only accepted as the first opcode')
        if (arg[0] > 5) throw this.malformed(`unsupported pickle protocol ${arg[0]}`)
        break
      }

      case Op.FRAME: {
        if (this.frameEnd !== undefined) throw this.malformed('a FRAME starts inside another FRAME')
        this.frameEnd = end + Number(arg.readBigUInt64LE(0))
        break
      }

      case Op.LONG1: {
        this.startData('long', arg[0], end, events)
        break
      }

      case Op.LONG4: {
        this.startData('long', this.signedLength(arg), end, events)
        break
      }

      case Op.SHORT_BINSTRING: {
        this.startData('ascii', arg[0], end, events)
        break
      }

      case Op.BINSTRING: {
        this.startData('ascii', this.signedLength(arg), end, events)
        break
      }

      case Op.SHORT_BINUNICODE: {
        this.startData('utf8', arg[0], end, events)
        break
      }

      case Op.BINUNICODE: {
        this.startData('utf8', arg.readUInt32LE(0), end, events)
        break
      }

      case Op.BINUNICODE8: {
        this.startData('utf8', this.length8(arg), end, events)
        break
      }

      case Op.SHORT_BINBYTES: {
        this.startData('bytes', arg[0], end, events)
        break
      }

      case Op.BINBYTES: {
        this.startData('bytes', arg.readUInt32LE(0), end, events)
        break
      }

      default: {
        // BINBYTES8, BYTEARRAY8
        this.startData('bytes', this.length8(arg), end, events)
      }
    }
  }

  private signedLength(arg: Buffer): number {
    const length = arg.readInt32LE(0)
    if (length < 0) throw this.malformed(`negative length ${length}`)
    return length
  }

  private length8(arg: Buffer): number {
    const length = arg.readBigUInt64LE(0)
    const limit = Math.max(this.limits.maxStringBytes, this.limits.maxStreamBytes)
    if (length > BigInt(limit)) throw this.tooLarge(`A ${opName(this.op)} value`, length, limit)
    return Number(length)
  }

  private onLine(line: Buffer): void {
    const text = line.toString('latin1')
    switch (this.op) {
      case Op.INT: {
        if (text === '00' || text === '01') this.pushNew(text === '01')
        else this.pushNew(this.parseInt(text))
        break
      }

      case Op.LONG: {
        this.pushNew(this.parseInt(text.endsWith('L') ? text.slice(0, -1) : text))
        break
      }

      case Op.FLOAT: {
        this.pushNew(this.parseFloat(text))
        break
      }

      case Op.STRING: {
        this.pushString(line)
        break
      }

      case Op.PUT: {
        this.memoPut(this.parseIndex(text))
        break
      }

      case Op.GET: {
        this.memoGet(this.parseIndex(text))
        break
      }

      default: {
        // GLOBAL: module line, then name line.
        if (this.globalModule === undefined) {
          this.globalModule = line
          this.expectLine(GLOBAL_LINE_MAX, 0)
        } else {
          const module = this.globalModule
          this.globalModule = undefined
          this.pushGlobal(module.toString('utf8'), line.toString('utf8'), 'GLOBAL')
        }
      }
    }
  }

  private parseInt(text: string): bigint {
    if (!/^[+-]?(0|[1-9]\d*)$/.test(text)) throw this.malformed(`bad ${opName(this.op)} argument '${shown(text)}'`)
    const digits = text.replace(/^[+-]/, '').length
    if (digits > MAX_INT_DIGITS) throw this.tooLarge('An int (decimal digits)', digits, MAX_INT_DIGITS)
    return BigInt(text)
  }

  private parseFloat(text: string): number {
    const match = /^([+-]?)(?:((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)|(inf|infinity)|(nan))$/i.exec(text)
    if (match === null) throw this.malformed(`bad FLOAT argument '${shown(text)}'`)
    const sign = match[1] === '-' ? -1 : 1
    if (match[3] !== undefined) return sign * Infinity
    if (match[4] !== undefined) return NaN
    return sign * Number(match[2])
  }

  private parseIndex(text: string): number {
    if (!/^\d{1,10}$/.test(text)) throw this.malformed(`bad ${opName(this.op)} argument '${shown(text)}'`)
    return Number(text)
  }

  /** STRING: a quoted Python bytes literal body, read as an ASCII str. */
  private pushString(line: Buffer): void {
    const quote = line[0]
    if (line.length < 2 || (quote !== 0x27 && quote !== 0x22) || line.at(-1) !== quote)
      throw this.malformed('the STRING argument must be quoted')
    const body = line.subarray(1, -1)
    const out = Buffer.allocUnsafe(body.length)
    let o = 0
    for (let i = 0; i < body.length; i++) {
      const byte = body[i]
      if (byte !== 0x5c) {
        out[o++] = byte
        continue
      }

      if (++i >= body.length) throw this.malformed('trailing \\ in a STRING')
      const next = body[i]
      const simple: Record<number, number> = {
        0x5c: 0x5c,
        0x27: 0x27,
        0x22: 0x22,
        0x61: 7,
        0x62: 8,
        0x66: 12,
        0x6e: 10,
        0x72: 13,
        0x74: 9,
        0x76: 11,
      }
      if (simple[next] !== undefined) out[o++] = simple[next]
      else if (next >= 0x30 && next <= 0x37) {
        let value = next - 0x30
        for (let n = 0; n < 2 && i + 1 < body.length && body[i + 1] >= 0x30 && body[i + 1] <= 0x37; n++)
          value = value * 8 + body[++i] - 0x30
        if (value > 0xff) throw this.malformed('octal escape above \\377 in a STRING')
        out[o++] = value
      } else if (next === 0x78) {
        const high = i + 1 < body.length ? hexDigit(body[i + 1]) : -1
        const low = i + 2 < body.length ? hexDigit(body[i + 2]) : -1
        if (high < 0 || low < 0) throw this.malformed('invalid \\x escape in a STRING')
        out[o++] = high * 16 + low
        i += 2
      } else {
        out[o++] = 0x5c
        out[o++] = next
      }
    }

    if (o > this.limits.maxStringBytes) throw this.tooLarge('A str value', o, this.limits.maxStringBytes)
    this.count(o)
    this.push(this.ascii(out.subarray(0, o)), VALUE_COST + o)
  }

  // ---- the stack machine

  private execute(code: number): void {
    switch (code) {
      case Op.STOP: {
        this.stop()
        break
      }

      case Op.MARK: {
        if (this.marks.length >= this.limits.maxDepth + MARK_SLACK)
          throw this.malformed(`more than ${this.limits.maxDepth + MARK_SLACK} MARKs open (nesting too deep)`)
        this.marks.push(this.stack.length)
        break
      }

      case Op.POP: {
        if (this.stack.length > this.floor()) this.discard(this.popEntries(1))
        else if (this.marks.length > 0) this.marks.pop()
        else throw this.malformed('POP on an empty stack')
        break
      }

      case Op.POP_MARK: {
        this.discard(this.popMark())
        break
      }

      case Op.NONE: {
        this.pushNew(null)
        break
      }

      case Op.NEWTRUE:
      case Op.NEWFALSE: {
        this.pushNew(code === Op.NEWTRUE)
        break
      }

      case Op.EMPTY_TUPLE: {
        this.pushTuple([], [])
        break
      }

      case Op.TUPLE: {
        const {entries, sizes} = this.popMark()
        this.pushTuple(entries, sizes)
        break
      }

      case Op.TUPLE1:
      case Op.TUPLE2:
      case Op.TUPLE3: {
        const {entries, sizes} = this.popEntries(code - Op.TUPLE1 + 1)
        this.pushTuple(entries, sizes)
        break
      }

      case Op.EMPTY_LIST: {
        this.pushContainer([])
        break
      }

      case Op.LIST: {
        const {entries, sizes} = this.popMark()
        const list: PickleValue[] = []
        this.pushContainer(list)
        this.appendTo(list, entries, sizes)
        break
      }

      case Op.EMPTY_DICT: {
        const dict: PickleDict = new Map()
        if (this.stack.length === 0 && this.marks.length === 0 && this.root === undefined) this.root = dict
        this.pushContainer(dict)
        break
      }

      case Op.DICT: {
        const {entries, sizes} = this.popMark()
        const dict: PickleDict = new Map()
        if (this.stack.length === 0 && this.marks.length === 0 && this.root === undefined) this.root = dict
        this.pushContainer(dict)
        this.setItems(dict, entries, sizes)
        break
      }

      case Op.APPEND: {
        const {entries, sizes} = this.popEntries(1)
        this.appendTo(this.target('list'), entries, sizes)
        break
      }

      case Op.APPENDS: {
        const {entries, sizes} = this.popMark()
        this.appendTo(this.target('list'), entries, sizes)
        break
      }

      case Op.SETITEM: {
        const {entries, sizes} = this.popEntries(2)
        this.setItems(this.target('dict'), entries, sizes)
        break
      }

      case Op.SETITEMS: {
        const {entries, sizes} = this.popMark()
        this.setItems(this.target('dict'), entries, sizes)
        break
      }

      case Op.MEMOIZE: {
        this.memoPut(this.memo.size)
        break
      }

      case Op.STACK_GLOBAL: {
        const {entries} = this.popEntries(2)
        const [module, name] = entries
        if (typeof module !== 'string' || typeof name !== 'string')
          throw this.malformed('STACK_GLOBAL requires two str')
        this.pushGlobal(module, name, 'STACK_GLOBAL')
        break
      }

      case Op.REDUCE: {
        this.reduce()
        break
      }

      default: {
        // Everything off the allowlist: BUILD, INST, OBJ, NEWOBJ(_EX), PERSID, EXT*, buffers, sets, DUP, non-opcodes.
        throw this.refusedOpcode(code)
      }
    }
  }

  private stop(): void {
    if (this.frameEnd !== undefined && this.frameEnd !== this.opStart + 1)
      throw this.malformed('STOP before the end of its FRAME')
    if (this.marks.length > 0 || this.stack.length !== 1)
      throw this.malformed(`STOP with ${this.stack.length} values and ${this.marks.length} MARKs on the stack`)
    const value = this.stack[0]
    if (value instanceof GlobalRef || isStreamed(value))
      throw this.malformed(`the pickle's value is a ${typeName(value)}, outside the subset`)
    if (this.placed !== this.streamed.size || (this.streamed.size > 0 && value !== this.root))
      throw this.malformed('a streamed value did not end up in the top-level dict')
    this.result = value as PickleValue
    this.state = S_DONE
  }

  /** Where popping must stop: the last MARK. */
  private floor(): number {
    return this.marks.at(-1) ?? 0
  }

  private popEntries(n: number): {entries: Entry[]; sizes: number[]} {
    if (this.stack.length - n < this.floor()) throw this.malformed(`stack underflow at ${opName(this.op)}`)
    return {entries: this.stack.splice(-n, n), sizes: this.sizes.splice(-n, n)}
  }

  private popMark(): {entries: Entry[]; sizes: number[]} {
    const mark = this.marks.pop()
    if (mark === undefined) throw this.malformed(`${opName(this.op)} without a MARK`)
    return {entries: this.stack.splice(mark), sizes: this.sizes.splice(mark)}
  }

  private discard({entries}: {entries: Entry[]}): void {
    for (const entry of entries) if (isStreamed(entry)) throw this.malformed('a streamed value was discarded')
  }

  /** The list or dict the items go into: the value below the popped ones, still being built. */
  private target(kind: 'list'): PickleValue[]
  private target(kind: 'dict'): PickleDict
  private target(kind: 'list' | 'dict'): PickleValue[] | PickleDict {
    if (this.stack.length <= this.floor()) throw this.malformed(`stack underflow at ${opName(this.op)}`)
    const value = this.stack.at(-1)!
    const ok = kind === 'list' ? Array.isArray(value) : value instanceof Map
    if (!ok) throw this.malformed(`${opName(this.op)} to a ${typeName(value)}`)
    if (this.frozen.has(value as object))
      throw this.malformed(`${opName(this.op)} to a ${kind} a memo reference points to (cycles are refused)`)
    return value as PickleValue[] | PickleDict
  }

  /** Counts one new value toward maxItems and `dataBytes` plus its cost toward maxTotalBytes. */
  private count(dataBytes: number): void {
    if (++this.items > this.limits.maxItems)
      throw this.tooLarge('The pickle (values)', this.items, this.limits.maxItems)
    this.totalBytes += VALUE_COST + dataBytes
    if (this.totalBytes > this.limits.maxTotalBytes)
      throw this.tooLarge('The decoded pickle', this.totalBytes, this.limits.maxTotalBytes)
  }

  private push(entry: Entry, size: number): void {
    this.stack.push(entry)
    this.sizes.push(size)
  }

  private pushNew(value: PickleValue): void {
    this.count(0)
    this.push(value, VALUE_COST)
  }

  private pushContainer(container: PickleValue[] | PickleDict): void {
    this.count(0)
    this.containerSize.set(container, VALUE_COST)
    this.containerDepth.set(container, 1)
    this.push(container, 0)
  }

  private sizeOf(entry: Entry, stackSize: number): number {
    return isContainer(entry) ? this.containerSize.get(entry)! : stackSize
  }

  private depthOf(entry: Entry): number {
    return isContainer(entry) ? this.containerDepth.get(entry)! : 0
  }

  /** An item going into a container: it must be plain data. */
  private place(entry: Entry): PickleValue {
    if (entry instanceof GlobalRef)
      throw this.malformed(`global ${entry.label} used other than as the callable of REDUCE`, `GLOBAL ${entry.label}`)
    if (isStreamed(entry))
      throw this.malformed('a streamed value can only be the value of its key in the top-level dict')
    return entry as PickleValue
  }

  private grow(container: object, sizeIncrease: number, itemDepth: number): void {
    this.containerSize.set(container, this.containerSize.get(container)! + sizeIncrease)
    const depth = Math.max(this.containerDepth.get(container)!, itemDepth + 1)
    if (depth > this.limits.maxDepth) throw this.malformed(`containers nested deeper than ${this.limits.maxDepth}`)
    this.containerDepth.set(container, depth)
  }

  private appendTo(list: PickleValue[], entries: Entry[], sizes: number[]): void {
    let size = 0
    let depth = 0
    for (const [k, entry] of entries.entries()) {
      size += this.sizeOf(entry, sizes[k])
      depth = Math.max(depth, this.depthOf(entry))
      list.push(this.place(entry))
    }

    this.grow(list, size, depth)
  }

  private setItems(dict: PickleDict, entries: Entry[], sizes: number[]): void {
    if (entries.length % 2 !== 0) throw this.malformed(`${opName(this.op)} with an odd number of items`)
    let size = 0
    let depth = 0
    for (let k = 0; k < entries.length; k += 2) {
      const key = entries[k]
      if (typeof key !== 'string' && typeof key !== 'bigint')
        throw this.malformed(`a dict key of type ${typeName(key)} (only str and int keys are accepted)`)
      if (dict.has(key)) throw this.malformed(`duplicate dict key ${typeof key === 'string' ? `'${shown(key)}'` : key}`)
      const value = entries[k + 1]
      if (value instanceof StreamedBytes && dict === this.root && key === value.key) {
        this.placed++
        dict.set(key, value)
        continue
      }

      size += sizes[k] + this.sizeOf(value, sizes[k + 1])
      depth = Math.max(depth, this.depthOf(value))
      dict.set(key, this.place(value))
    }

    this.grow(dict, size, depth)
  }

  private pushTuple(entries: Entry[], sizes: number[]): void {
    this.count(0)
    if (entries.some((entry) => isStreamed(entry))) {
      for (const entry of entries) if (!isStreamed(entry)) this.place(entry)
      this.push(new PendingArgs(entries), 0)
      return
    }

    let size = VALUE_COST
    let depth = 0
    const items = entries.map((entry, k) => {
      size += this.sizeOf(entry, sizes[k])
      depth = Math.max(depth, this.depthOf(entry))
      return this.place(entry)
    })
    if (depth + 1 > this.limits.maxDepth) throw this.malformed(`containers nested deeper than ${this.limits.maxDepth}`)
    const tuple = new PickleTuple(items)
    this.containerSize.set(tuple, size)
    this.containerDepth.set(tuple, depth + 1)
    this.push(tuple, 0)
  }

  private memoPut(index: number): void {
    if (this.stack.length <= this.floor()) throw this.malformed(`${opName(this.op)} on an empty stack`)
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxItems)
      throw this.tooLarge('The memo (entries)', this.memo.size + 1, this.limits.maxItems)
    this.memo.set(index, {value: this.stack.at(-1)!, size: this.sizes.at(-1)!})
  }

  private memoGet(index: number): void {
    const entry = this.memo.get(index)
    if (entry === undefined) throw this.malformed(`memo key ${index} not found`)
    const {value} = entry
    if (isStreamed(value)) throw this.malformed('a memo reference to a streamed value')
    if (Array.isArray(value) || value instanceof Map) this.frozen.add(value)
    const size = this.sizeOf(value, entry.size)
    this.count(Math.max(0, size - VALUE_COST))
    this.push(value, size)
  }

  private pushGlobal(module: string, name: string, opcode: 'GLOBAL' | 'STACK_GLOBAL'): void {
    const label = `${shown(module)}.${shown(name)}`
    const kind = ALLOWED_GLOBALS.get(`${module}\n${name}`)
    if (kind === undefined) throw this.malformed(`refused global ${label}`, `${opcode} ${label}`)
    this.count(0)
    this.push(new GlobalRef(kind, label), VALUE_COST)
  }

  /** The only calls: _codecs.encode(str, 'latin1') and bytes/bytearray() or (bytes). */
  private reduce(): void {
    const {entries} = this.popEntries(2)
    const [callable, args] = entries
    if (!(callable instanceof GlobalRef))
      throw this.malformed(`refused opcode REDUCE on a ${typeName(callable)}`, 'REDUCE')
    const items = args instanceof PickleTuple || args instanceof PendingArgs ? args.items : undefined
    if (items === undefined)
      throw this.malformed(`REDUCE of ${callable.label} with a ${typeName(args)} argument`, 'REDUCE')
    const shape = `${callable.label}(${items.map((item) => typeName(item)).join(', ')})`
    if (callable.kind === 'encode') {
      const [text, codec] = items
      if (items.length === 2 && typeof codec === 'string' && codec !== 'latin1')
        throw this.malformed(`refused ${callable.label} with codec '${shown(codec)}'`, 'REDUCE')
      if (items.length !== 2 || codec !== 'latin1') throw this.malformed(`refused ${shape}`, 'REDUCE')
      if (text instanceof StreamedStr) {
        this.push(new StreamedBytes(text.key, text.length), 0)
        return
      }

      if (typeof text !== 'string') throw this.malformed(`refused ${shape}`, 'REDUCE')
      // eslint-disable-next-line no-control-regex
      if (/[^\u0000-\u00ff]/.test(text))
        throw this.malformed("_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
      const bytes = Buffer.from(text, 'latin1')
      this.count(0)
      this.push(bytes, VALUE_COST + bytes.length)
      return
    }

    if (items.length === 0) {
      this.count(0)
      this.push(Buffer.alloc(0), VALUE_COST)
      return
    }

    const [source] = items
    if (items.length !== 1 || !(Buffer.isBuffer(source) || source instanceof StreamedBytes))
      throw this.malformed(`refused ${shape}`, 'REDUCE')
    this.count(0)
    this.push(source, source instanceof StreamedBytes ? 0 : VALUE_COST + source.length)
  }
}

/** Whole-buffer decoding for tests and small messages: no streaming, bytes after STOP refused. */
export function decodePickle(data: Buffer, options: {limits?: Partial<PickleLimits>} = {}): PickleValue {
  const decoder = new PickleDecoder({limits: options.limits, streamKeys: []})
  const used = decoder.write(data, [])
  if (!decoder.done) {
    const opcode = decoder.pendingOpcode
    throw new PickleError(
      ErrorCode.MALFORMED,
      `Malformed message: the pickle is truncated after ${data.length} bytes${opcode ? ` (inside ${opcode})` : ''}`,
      opcode,
    )
  }

  if (used < data.length)
    throw new PickleError(
      ErrorCode.MALFORMED,
      `Malformed message: ${data.length - used} bytes after the pickle's STOP`,
      'STOP',
    )
  return decoder.value
}
