import {Op} from './opcodes.js'
import {type PickleKey, PickleTuple, type PickleValue, StreamedBytes} from './values.js'

/** The pickle protocols we write. 0 and 1 are read but never written. */
export type PickleProtocol = 2 | 3 | 4 | 5

/** Responses and requests are pickled at protocol 4 (DESIGN.md). */
export const DEFAULT_PROTOCOL = 4

export interface EncodeOptions {
  protocol?: PickleProtocol
}

/** What a value to encode may be: the subset, with plain JS objects accepted as dicts. */
export type EncodableValue = PickleValue | EncodableObject | EncodableValue[]
export interface EncodableObject {
  [key: string]: EncodableValue
}

/**
 * Marks where a bytes value of known length is left out of the output so that the caller can send it
 * from a stream. Only the message writer uses it.
 */
export class BytesHole {
  constructor(readonly length: number) {}
}

/**
 * A list of str values that is encoded as it is sent, never held as one buffer: iterating it must give
 * the same strings every time (it is read once to measure, once to encode), and `length` is their count.
 * An array of strings is one; so is a read-only view over a snapshot.
 */
export interface StringList extends Iterable<string> {
  readonly length: number
}

/** Marks where a {@link StringList} is left out of the output, to be encoded lazily by {@link encodeStringList}. */
export class ListHole {
  constructor(
    readonly items: StringList,
    /** Its encoded length in bytes, from {@link measureStringList}. */
    readonly length: number,
  ) {}
}

// CPython batches APPENDS and SETITEMS by this many items (Lib/pickle.py _BATCHSIZE).
const BATCH_SIZE = 1000
const UINT32_MAX = 0xffff_ffff
// Small opcodes and lengths go to a scratch buffer; values this big or bigger are kept as they are.
const SCRATCH_BYTES = 64 * 1024
const COPY_LIMIT = 4096
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Collects the output as a list of Buffers without copying large values. */
class Output {
  readonly parts: Buffer[] = []
  /** Index in `parts` after which a BytesHole was left, or -1. */
  hole = -1
  length = 0
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES)
  private used = 0
  private start = 0

  byte(value: number): void {
    this.reserve(1)
    this.scratch[this.used++] = value
  }

  uint16le(value: number): void {
    this.reserve(2)
    this.used = this.scratch.writeUInt16LE(value, this.used)
  }

  uint32le(value: number): void {
    this.reserve(4)
    this.used = this.scratch.writeUInt32LE(value, this.used)
  }

  int32le(value: number): void {
    this.reserve(4)
    this.used = this.scratch.writeInt32LE(value, this.used)
  }

  uint64le(value: number): void {
    this.reserve(8)
    this.used = this.scratch.writeBigUInt64LE(BigInt(value), this.used)
  }

  doubleBe(value: number): void {
    this.reserve(8)
    this.used = this.scratch.writeDoubleBE(value, this.used)
  }

  bytes(data: Buffer): void {
    if (data.length < COPY_LIMIT) {
      this.reserve(data.length)
      this.used += data.copy(this.scratch, this.used)
      return
    }
    this.flush()
    this.parts.push(data)
    this.length += data.length
  }

  markHole(): void {
    if (this.hole !== -1)
      throw new Error('encodePickle: only one value per pickle may be left out (streamed bytes or a lazy list)')
    this.flush()
    this.hole = this.parts.length
  }

  finish(): Buffer[] {
    this.flush()
    return this.parts
  }

  private reserve(size: number): void {
    if (this.used + size <= this.scratch.length) return
    this.flush()
    this.scratch = Buffer.allocUnsafe(Math.max(SCRATCH_BYTES, size))
    this.used = 0
    this.start = 0
  }

  private flush(): void {
    if (this.used === this.start) return
    // Later writes go past `used`, so the slice handed out is never written again.
    this.parts.push(this.scratch.subarray(this.start, this.used))
    this.length += this.used - this.start
    this.start = this.used
  }
}

function isPlainObject(value: unknown): value is EncodableObject {
  if (typeof value !== 'object' || value === null) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** CPython's pickle.encode_long: minimal two's complement, little-endian; 0 is empty. */
export function encodeLong(value: bigint): Buffer {
  if (value === 0n) return Buffer.alloc(0)
  const bytes: number[] = []
  let rest = value
  // Emit bytes until what is left is pure sign extension of the last byte's top bit.
  for (;;) {
    const byte = Number(BigInt.asUintN(8, rest))
    bytes.push(byte)
    rest >>= 8n
    const signBit = (byte & 0x80) !== 0
    if ((rest === 0n && !signBit) || (rest === -1n && signBit)) break
  }
  return Buffer.from(bytes)
}

class Encoder {
  readonly out = new Output()
  private depth = 0

  constructor(readonly protocol: PickleProtocol) {}

  value(value: EncodableValue | BytesHole | ListHole | undefined): void {
    if (value === null) return this.out.byte(Op.NONE)
    switch (typeof value) {
      case 'boolean':
        return this.out.byte(value ? Op.NEWTRUE : Op.NEWFALSE)
      case 'bigint':
        return this.int(value)
      case 'number':
        this.out.byte(Op.BINFLOAT)
        return this.out.doubleBe(value)
      case 'string':
        return this.str(value)
      // Buffers, containers and what the subset refuses are told apart below.
      case 'object':
      case 'undefined':
      case 'function':
      case 'symbol':
    }
    if (Buffer.isBuffer(value)) return this.bytes(value)
    if (value instanceof BytesHole) return this.hole(value.length)
    if (value instanceof ListHole) return this.out.markHole()
    if (value instanceof StreamedBytes)
      throw new TypeError(`encodePickle: ${value.key} went to a sink and has no bytes to encode`)
    if (typeof value !== 'object') throw new TypeError(`encodePickle: a ${typeof value} is not in the pickle subset`)
    this.depth++
    // Deep enough for any message; a cycle in the input would otherwise overflow the stack.
    if (this.depth > 1000) throw new RangeError('encodePickle: nesting deeper than 1000 (a cycle?)')
    if (value instanceof PickleTuple) this.tuple(value.items)
    else if (Array.isArray(value)) this.list(value)
    else if (value instanceof Map) this.dict([...value])
    else if (isPlainObject(value)) this.dict(Object.entries(value))
    else {
      const name = (value as object).constructor?.name ?? 'object'
      throw new TypeError(`encodePickle: a ${name} is not in the pickle subset`)
    }
    this.depth--
  }

  private int(value: bigint): void {
    const out = this.out
    if (value >= 0n && value <= 0xffn) {
      out.byte(Op.BININT1)
      return out.byte(Number(value))
    }
    if (value >= 0n && value <= 0xffffn) {
      out.byte(Op.BININT2)
      return out.uint16le(Number(value))
    }
    if (value >= -0x8000_0000n && value <= 0x7fff_ffffn) {
      out.byte(Op.BININT)
      return out.int32le(Number(value))
    }
    const encoded = encodeLong(value)
    if (encoded.length < 256) {
      out.byte(Op.LONG1)
      out.byte(encoded.length)
    } else {
      out.byte(Op.LONG4)
      out.uint32le(encoded.length)
    }
    out.bytes(encoded)
  }

  private str(value: string): void {
    // A lone surrogate would silently become U+FFFD; CPython's reader of ours would see another string.
    if (LONE_SURROGATE.test(value)) throw new RangeError('encodePickle: a str with a lone surrogate cannot be encoded')
    const data = Buffer.from(value, 'utf8')
    const out = this.out
    if (data.length < 256 && this.protocol >= 4) {
      out.byte(Op.SHORT_BINUNICODE)
      out.byte(data.length)
    } else if (data.length > UINT32_MAX) {
      this.needProtocol4('a str over 4 GiB')
      out.byte(Op.BINUNICODE8)
      out.uint64le(data.length)
    } else {
      out.byte(Op.BINUNICODE)
      out.uint32le(data.length)
    }
    out.bytes(data)
  }

  private bytesHeader(length: number): void {
    const out = this.out
    if (length < 256) {
      out.byte(Op.SHORT_BINBYTES)
      out.byte(length)
    } else if (length > UINT32_MAX) {
      this.needProtocol4('bytes over 4 GiB')
      out.byte(Op.BINBYTES8)
      out.uint64le(length)
    } else {
      out.byte(Op.BINBYTES)
      out.uint32le(length)
    }
  }

  private bytes(value: Buffer): void {
    if (this.protocol >= 3) {
      this.bytesHeader(value.length)
      return this.out.bytes(value)
    }
    // Protocol 2 has no bytes opcode; CPython writes what Python 2 can read back as the same bytes.
    if (value.length === 0) {
      this.global('__builtin__', 'bytes')
      this.out.byte(Op.EMPTY_TUPLE)
    } else {
      this.global('_codecs', 'encode')
      this.str(value.toString('latin1'))
      this.str('latin1')
      this.out.byte(Op.TUPLE2)
    }
    this.out.byte(Op.REDUCE)
  }

  private hole(length: number): void {
    if (this.protocol < 3)
      throw new RangeError(
        'FILE_DATA can be streamed at protocols 3 to 5 only: at protocol 2 bytes become a latin-1 str whose encoded length depends on the content',
      )
    this.bytesHeader(length)
    this.out.markHole()
  }

  private global(module: string, name: string): void {
    this.out.byte(Op.GLOBAL)
    this.out.bytes(Buffer.from(`${module}\n${name}\n`, 'ascii'))
  }

  private tuple(items: readonly EncodableValue[]): void {
    const out = this.out
    if (items.length === 0) return out.byte(Op.EMPTY_TUPLE)
    if (items.length <= 3) {
      for (const item of items) this.value(item)
      return out.byte([Op.TUPLE1, Op.TUPLE2, Op.TUPLE3][items.length - 1])
    }
    out.byte(Op.MARK)
    for (const item of items) this.value(item)
    out.byte(Op.TUPLE)
  }

  private list(items: readonly EncodableValue[]): void {
    this.out.byte(Op.EMPTY_LIST)
    for (let start = 0; start < items.length; start += BATCH_SIZE) {
      const batch = items.slice(start, start + BATCH_SIZE)
      if (batch.length === 1) {
        this.value(batch[0])
        this.out.byte(Op.APPEND)
        continue
      }
      this.out.byte(Op.MARK)
      for (const item of batch) this.value(item)
      this.out.byte(Op.APPENDS)
    }
  }

  private dict(entries: ReadonlyArray<readonly [PickleKey, EncodableValue | BytesHole | ListHole]>): void {
    this.out.byte(Op.EMPTY_DICT)
    for (let start = 0; start < entries.length; start += BATCH_SIZE) {
      const batch = entries.slice(start, start + BATCH_SIZE)
      if (batch.length !== 1) this.out.byte(Op.MARK)
      for (const [key, value] of batch) {
        if (typeof key !== 'string' && typeof key !== 'bigint')
          throw new TypeError(`encodePickle: a dict key must be a str or an int, not a ${typeof key}`)
        this.value(key)
        this.value(value)
      }
      this.out.byte(batch.length === 1 ? Op.SETITEM : Op.SETITEMS)
    }
  }

  private needProtocol4(what: string): void {
    if (this.protocol < 4) throw new RangeError(`encodePickle: ${what} needs protocol 4 or later`)
  }
}

function checkProtocol(protocol: number): PickleProtocol {
  if (protocol !== 2 && protocol !== 3 && protocol !== 4 && protocol !== 5)
    throw new RangeError(`encodePickle: protocol must be 2, 3, 4 or 5, not ${protocol}`)
  return protocol
}

/**
 * The pickle of `value` as a list of Buffers (large bytes and str values are not copied), split at a
 * {@link BytesHole} if the value holds one: `parts.slice(0, hole)` comes before the hole.
 */
export function encodePickleParts(
  value: EncodableValue | Map<PickleKey, EncodableValue | BytesHole | ListHole>,
  options: EncodeOptions = {},
): {parts: Buffer[]; length: number; hole: number} {
  const encoder = new Encoder(checkProtocol(options.protocol ?? DEFAULT_PROTOCOL))
  encoder.out.byte(Op.PROTO)
  encoder.out.byte(encoder.protocol)
  encoder.value(value as EncodableValue)
  encoder.out.byte(Op.STOP)
  const parts = encoder.out.finish()
  return {parts, length: encoder.out.length, hole: encoder.out.hole}
}

/** Bytes of the opcode and length before a str's UTF-8 of `size` bytes, as {@link Encoder} writes it. */
function strHeaderBytes(size: number, protocol: PickleProtocol): number {
  if (size < 256 && protocol >= 4) return 2
  return size > UINT32_MAX ? 9 : 5
}

/** Lengths already measured, for lists that are not arrays (a StringList that is not an array never changes). */
const measured = new WeakMap<StringList, Map<PickleProtocol, number>>()

/**
 * The exact length of `items` encoded as a list (what {@link encodePickle} writes for the same array), in
 * one pass that encodes nothing. Remembered for a list that is not an array: 200 LISTs of one snapshot
 * measure it once.
 */
export function measureStringList(items: StringList, options: EncodeOptions = {}): number {
  const protocol = checkProtocol(options.protocol ?? DEFAULT_PROTOCOL)
  const known = measured.get(items)?.get(protocol)
  if (known !== undefined) return known
  const count = items.length
  const batches = Math.ceil(count / BATCH_SIZE)
  // EMPTY_LIST, then MARK ... APPENDS per batch, except that a batch of one item is ... APPEND.
  let length = 1 + batches * 2 - (count % BATCH_SIZE === 1 ? 1 : 0)
  let seen = 0
  for (const item of items) {
    const size = Buffer.byteLength(item, 'utf8')
    // Refused here, before a header promising the length has gone out. ASCII (size === length) has no surrogates.
    if (size !== item.length && LONE_SURROGATE.test(item))
      throw new RangeError('encodePickle: a str with a lone surrogate cannot be encoded')
    length += strHeaderBytes(size, protocol) + size
    seen++
  }
  if (seen !== count) throw new RangeError(`measureStringList: length says ${count} items, iteration gave ${seen}`)
  if (!Array.isArray(items)) {
    const byProtocol = measured.get(items) ?? new Map<PickleProtocol, number>()
    byProtocol.set(protocol, length)
    measured.set(items, byProtocol)
  }
  return length
}

/**
 * `items` encoded as a list, byte-identical to what {@link encodePickle} writes for the same array, as
 * Buffers of about `chunkBytes` each, made only as they are asked for: memory stays at one chunk
 * whatever the list's size. Throws, before yielding a byte past it, when the encoding differs from
 * `expectedLength` (from {@link measureStringList}): the list changed between the two passes.
 *
 * @yields {Buffer} the encoded list, in order.
 */
export function* encodeStringList(
  items: StringList,
  options: EncodeOptions & {chunkBytes?: number; expectedLength?: number} = {},
): Generator<Buffer, void, undefined> {
  const expected = options.expectedLength ?? Infinity
  let total = 0
  function checked(part: Buffer): Buffer {
    total += part.length
    if (total > expected) throw new RangeError(`encodeStringList: the list grew past the ${expected} bytes measured`)
    return part
  }
  const protocol = checkProtocol(options.protocol ?? DEFAULT_PROTOCOL)
  const chunkBytes = Math.max(16, options.chunkBytes ?? SCRATCH_BYTES)
  const count = items.length
  let chunk = Buffer.allocUnsafe(chunkBytes)
  let used = 0
  // A fresh Buffer per chunk: the caller may still hold earlier ones (queued on a socket).
  function* room(size: number): Generator<Buffer, void, undefined> {
    if (used > 0) yield checked(chunk.subarray(0, used))
    chunk = Buffer.allocUnsafe(Math.max(chunkBytes, size))
    used = 0
  }

  chunk[used++] = Op.EMPTY_LIST
  let index = 0
  for (const item of items) {
    if (index >= count) throw new RangeError(`encodeStringList: more items than the ${count} measured`)
    const inBatch = index % BATCH_SIZE
    const batchLength = Math.min(BATCH_SIZE, count - index + inBatch)
    if (inBatch === 0 && batchLength > 1) {
      if (used + 1 > chunk.length) yield* room(1)
      chunk[used++] = Op.MARK
    }
    const size = Buffer.byteLength(item, 'utf8')
    const header = strHeaderBytes(size, protocol)
    if (used + header + size > chunk.length) yield* room(header + size)
    if (header === 2) {
      chunk[used++] = Op.SHORT_BINUNICODE
      chunk[used++] = size
    } else if (header === 5) {
      chunk[used++] = Op.BINUNICODE
      used = chunk.writeUInt32LE(size, used)
    } else {
      if (protocol < 4) throw new RangeError('encodePickle: a str over 4 GiB needs protocol 4 or later')
      chunk[used++] = Op.BINUNICODE8
      used = chunk.writeBigUInt64LE(BigInt(size), used)
    }
    used += chunk.write(item, used, 'utf8')
    index++
    if (inBatch === batchLength - 1) {
      if (used + 1 > chunk.length) yield* room(1)
      chunk[used++] = batchLength === 1 ? Op.APPEND : Op.APPENDS
    }
  }
  if (index !== count) throw new RangeError(`encodeStringList: ${index} items, ${count} measured`)
  checked(chunk.subarray(0, used))
  if (options.expectedLength !== undefined && total !== expected)
    throw new RangeError(`encodeStringList: ${total} bytes, ${expected} measured`)
  yield chunk.subarray(0, used)
}

/**
 * Encodes a value of the subset: int = bigint, float = number (a JS number is always a Python float,
 * even 3), str, bytes = Buffer, bool, None = null, tuple = PickleTuple, list = Array, dict = Map or a
 * plain object (its own enumerable keys, in insertion order). The output loads in CPython to an equal
 * value of the same types. No memo and no FRAME are written (both optional); protocol 2 writes bytes as
 * CPython does (`_codecs.encode(str, 'latin1')`, `__builtin__.bytes()` when empty).
 */
export function encodePickle(value: EncodableValue, options: EncodeOptions = {}): Buffer {
  const {parts, length} = encodePickleParts(value, options)
  // Always a copy: a single part may be a slice of a larger scratch buffer.
  return Buffer.concat(parts, length)
}
