// What every input must do: decode to a value of the subset or fail with an IssError from the
// catalogue (never another exception, never a wrapped internal failure), the same whether it arrives
// whole or in pieces, with well-formed stream events; framed, the same through MessageReader. And at a
// bounded cost: the heap the decoder creates is bounded per input byte (checkCost), and so is the
// time (fuzz-run.ts times every input against a budget per byte).
import {maxFrameBytes} from '../../src/core/config.js'
import {ERROR_CODE_SUMMARY, ErrorCode, isIssError} from '../../src/core/errors.js'
import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {toMessage} from '../../src/core/protocol/message.js'
import {MessageReader, type ReaderEvent} from '../../src/core/protocol/message-reader.js'
import {type DecodeEvent, decodePickle, PickleDecoder} from '../../src/core/protocol/pickle-decoder.js'
import {PickleTuple, type PickleValue, StreamedBytes} from '../../src/core/protocol/values.js'
import type {Rng} from './mutators.js'

/** A broken promise: the input and what went wrong. */
export class OracleFailure extends Error {
  constructor(
    readonly why: string,
    readonly input: Buffer,
  ) {
    super(`${why}; input (${input.length} bytes) hex: ${input.toString('hex').slice(0, 4000)}`)
    this.name = 'OracleFailure'
  }
}

/** How one input ended. */
export type Outcome = {kind: 'value'; value: PickleValue} | {kind: 'error'; code: string; message: string}

/** The codes a pickle or a frame may be refused with. */
const DECODER_CODES = new Set<string>([ErrorCode.MALFORMED, ErrorCode.TOO_LARGE])

/** The limits of a server with --max-size 1 MiB. */
export const READER_MAX_SIZE = 1024 * 1024

/** Checks an error that a decoder threw; returns it as an Outcome. */
export function errorOutcome(error: unknown, input: Buffer, where: string, fatal?: boolean): Outcome {
  if (!isIssError(error)) {
    throw new OracleFailure(`${where} threw a non-IssError: ${(error as Error)?.stack ?? String(error)}`, input)
  }

  if (!Object.hasOwn(ERROR_CODE_SUMMARY, error.code))
    throw new OracleFailure(`${where}: code ${error.code} not in the catalogue`, input)
  if (!DECODER_CODES.has(error.code)) throw new OracleFailure(`${where}: unexpected code ${error.code}`, input)
  // The decoder wraps anything unexpected (a TypeError, a RangeError) in this message: that is a bug.
  if (error.message.includes('decoder failure')) throw new OracleFailure(`${where}: ${error.message}`, input)
  if (fatal !== undefined && error.fatal !== fatal) throw new OracleFailure(`${where}: fatal is ${error.fatal}`, input)
  return {kind: 'error', code: error.code, message: error.message}
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why `value` is outside the subset, or null. */
export function subsetProblem(value: unknown, depth = 0): string | null {
  if (depth > 70) return 'nested deeper than the limit'
  if (value === null || typeof value === 'boolean' || typeof value === 'bigint' || typeof value === 'number')
    return null
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? 'a str with a lone surrogate' : null
  if (Buffer.isBuffer(value)) return null
  if (value instanceof StreamedBytes) return depth === 1 ? null : 'a StreamedBytes below the top level'
  if (Array.isArray(value) || value instanceof PickleTuple) {
    for (const item of Array.isArray(value) ? value : value.items) {
      const problem = subsetProblem(item, depth + 1)
      if (problem) return problem
    }

    return null
  }

  if (value instanceof Map) {
    for (const [key, item] of value) {
      if (typeof key !== 'string' && typeof key !== 'bigint') return `a dict key of type ${typeof key}`
      const problem = subsetProblem(item, depth + 1)
      if (problem) return problem
    }

    return null
  }

  return `a ${Object.prototype.toString.call(value)} (${(value as object)?.constructor?.name})`
}

/** Deep equality that keeps Python types apart (1n vs 1, list vs tuple, -0.0 and NaN exact). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b)
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return a === b
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b)
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]))
  if (a instanceof PickleTuple) return b instanceof PickleTuple && sameValue([...a.items], [...b.items])
  if (a instanceof StreamedBytes) return b instanceof StreamedBytes && a.key === b.key && a.length === b.length
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false
    const bEntries = [...b]
    return [...a].every(([k, v], i) => bEntries[i][0] === k && sameValue(v, bEntries[i][1]))
  }

  return false
}

/** Cuts `data` into 1 to 6 pieces at random points (often single bytes near the start). */
export function randomChunks(data: Buffer, rng: Rng): Buffer[] {
  const pieces = 1 + rng.int(6)
  if (pieces === 1 || data.length < 2) return [data]
  const points = new Set<number>()
  for (let k = 1; k < pieces; k++) points.add(1 + rng.int(data.length - 1))
  const sorted = [...points].sort((x, y) => x - y)
  const chunks: Buffer[] = []
  let start = 0
  for (const point of [...sorted, data.length]) {
    chunks.push(data.subarray(start, point))
    start = point
  }

  return chunks
}

/** Stream events in order: start, data..., end, with lengths that add up and stay within maxLength. */
function checkStreamEvents(events: readonly DecodeEvent[], input: Buffer, where: string): Map<string, number> {
  const ended = new Map<string, number>()
  let open: {key: string; maxLength: number; got: number} | undefined
  for (const event of events) {
    if (event.type === 'stream-start') {
      if (open) throw new OracleFailure(`${where}: stream-start inside a stream`, input)
      // eslint-disable-next-line unicorn/no-negated-comparison -- the negation also refuses NaN and a missing length
      if (!(event.maxLength >= 0)) throw new OracleFailure(`${where}: stream-start maxLength ${event.maxLength}`, input)
      open = {key: event.key, maxLength: event.maxLength, got: 0}
    } else if (event.type === 'stream-data') {
      if (!open) throw new OracleFailure(`${where}: stream-data outside a stream`, input)
      if (event.chunk.length === 0) throw new OracleFailure(`${where}: an empty stream-data`, input)
      open.got += event.chunk.length
      if (open.got > open.maxLength)
        throw new OracleFailure(`${where}: ${open.got} streamed bytes over maxLength ${open.maxLength}`, input)
    } else {
      if (!open) throw new OracleFailure(`${where}: stream-end outside a stream`, input)
      if (event.length !== open.got)
        throw new OracleFailure(`${where}: stream-end says ${event.length}, ${open.got} came`, input)
      ended.set(open.key, open.got)
      open = undefined
    }
  }

  return ended
}

/**
 * The most heap one input byte may make the decoder create, at its measured cost (COST in
 * pickle-limits.ts): EMPTY_DICT is one byte for a dict, its bookkeeping and its stack slot (304);
 * everything else costs less per byte. Memo references are not counted again (createdBytes).
 */
export const MAX_CREATED_BYTES_PER_INPUT_BYTE = 320
const CREATED_SLACK_BYTES = 4096

/**
 * The decoder created at most MAX_CREATED_BYTES_PER_INPUT_BYTE per byte it read (besides what it charged
 * ahead for a value announced but not yet arrived), and charged at least what it created.
 */
export function checkCost(decoder: PickleDecoder, input: Buffer, where: string): void {
  const bound = MAX_CREATED_BYTES_PER_INPUT_BYTE * decoder.position + CREATED_SLACK_BYTES
  const created = decoder.createdBytes - decoder.chargedAhead
  if (created > bound)
    throw new OracleFailure(
      `${where}: created ${created} bytes of heap for ${decoder.position} input bytes (bound ${bound})`,
      input,
    )
  if (decoder.createdBytes > decoder.chargedBytes)
    throw new OracleFailure(
      `${where}: created ${decoder.createdBytes} bytes but charged ${decoder.chargedBytes}`,
      input,
    )
}

/** decodePickle's contract, fed in pieces: a value, or the same error. */
function decodeInPieces(chunks: readonly Buffer[], input: Buffer): Outcome {
  const decoder = new PickleDecoder({streamKeys: []})
  let used = 0
  try {
    for (const chunk of chunks) {
      if (decoder.done) break

      const took = decoder.write(chunk, [])
      used += took
      if (took < chunk.length && !decoder.done)
        throw new OracleFailure(
          `PickleDecoder.write consumed ${took} of ${chunk.length} bytes without finishing`,
          input,
        )
    }
  } catch (error) {
    if (error instanceof OracleFailure) throw error
    checkCost(decoder, input, 'PickleDecoder (pieces)')
    return errorOutcome(error, input, 'PickleDecoder (pieces)', true)
  }

  checkCost(decoder, input, 'PickleDecoder (pieces)')
  if (!decoder.done) return {kind: 'error', code: ErrorCode.MALFORMED, message: 'truncated'}
  if (used < input.length) return {kind: 'error', code: ErrorCode.MALFORMED, message: 'bytes after STOP'}
  return {kind: 'value', value: decoder.value}
}

/** The pickle decoder: whole, in pieces, and streaming FILE_DATA. Returns the whole-input outcome. */
export function checkPickle(input: Buffer, rng: Rng): Outcome {
  let whole: Outcome
  try {
    whole = {kind: 'value', value: decodePickle(input)}
  } catch (error) {
    whole = errorOutcome(error, input, 'decodePickle', true)
  }

  if (whole.kind === 'value') {
    const problem = subsetProblem(whole.value)
    if (problem) throw new OracleFailure(`decodePickle returned ${problem}`, input)
    if (whole.value instanceof Map) checkToMessage(whole.value, input)
  }

  // The same bytes in pieces must end the same way (the decoder is a state machine over chunks).
  const pieces = decodeInPieces(randomChunks(input, rng), input)
  if (pieces.kind !== whole.kind) {
    throw new OracleFailure(
      `whole gave ${whole.kind}, pieces gave ${pieces.kind} (${pieces.kind === 'error' ? pieces.message : ''})`,
      input,
    )
  }

  if (whole.kind === 'value' && pieces.kind === 'value' && !sameValue(whole.value, pieces.value))
    throw new OracleFailure('whole and pieces decoded different values', input)
  if (whole.kind === 'error' && pieces.kind === 'error' && whole.code !== pieces.code)
    throw new OracleFailure(`whole refused with ${whole.code}, pieces with ${pieces.code}`, input)

  checkStreaming(input, rng)
  return whole
}

/** With FILE_DATA streamed: events well formed, and a streamed value sits in the top-level dict. */
function checkStreaming(input: Buffer, rng: Rng): void {
  const decoder = new PickleDecoder({streamKeys: ['FILE_DATA'], limits: {maxStreamBytes: READER_MAX_SIZE}})
  const events: DecodeEvent[] = []
  try {
    for (const chunk of randomChunks(input, rng)) {
      if (decoder.done) break
      decoder.write(chunk, events)
    }
  } catch (error) {
    checkStreamEvents(events, input, 'PickleDecoder (streaming)')
    errorOutcome(error, input, 'PickleDecoder (streaming)', true)
    checkCost(decoder, input, 'PickleDecoder (streaming)')
    return
  }

  checkCost(decoder, input, 'PickleDecoder (streaming)')

  // eslint-disable-next-line unicorn/no-declarations-before-early-exit -- the check throws on bad events, finished or not
  const ended = checkStreamEvents(events, input, 'PickleDecoder (streaming)')
  if (!decoder.done) return
  const value = decoder.value
  const problem = subsetProblem(value)
  if (problem) throw new OracleFailure(`streaming decoder returned ${problem}`, input)
  if (ended.size > 0) {
    if (!(value instanceof Map)) throw new OracleFailure('a streamed value outside a top-level dict', input)
    for (const [key, length] of ended) {
      const item = value.get(key)
      if (!(item instanceof StreamedBytes) || item.length !== length)
        throw new OracleFailure(`stream ${key} of ${length} bytes is not its key's value`, input)
    }
  }
}

/** toMessage on any decoded dict: a Message, or a non-fatal E_MALFORMED. */
function checkToMessage(dict: Map<unknown, unknown>, input: Buffer): void {
  try {
    const message = toMessage(dict as never)
    checkMessageShape(message, input)
  } catch (error) {
    if (error instanceof OracleFailure) throw error
    const outcome = errorOutcome(error, input, 'toMessage', false)
    if (outcome.kind === 'error' && outcome.code !== ErrorCode.MALFORMED)
      throw new OracleFailure(`toMessage refused with ${outcome.code}`, input)
  }
}

function isStrOrNull(value: unknown): boolean {
  return value === null || typeof value === 'string'
}

function checkMessageShape(message: ReturnType<typeof toMessage>, input: Buffer): void {
  const isOk =
    isStrOrNull(message.COMMAND) &&
    isStrOrNull(message.STATUS) &&
    isStrOrNull(message.FILENAME) &&
    isStrOrNull(message.CODE) &&
    (isStrOrNull(message.DETAILS) ||
      (Array.isArray(message.DETAILS) && message.DETAILS.every((d) => typeof d === 'string'))) &&
    (message.FILE_DATA === null || Buffer.isBuffer(message.FILE_DATA) || message.FILE_DATA instanceof StreamedBytes) &&
    (message.VERSION === null || typeof message.VERSION === 'number') &&
    (message.COMMANDS === null ||
      (Array.isArray(message.COMMANDS) && message.COMMANDS.every((d) => typeof d === 'string'))) &&
    message.extra instanceof Map
  if (!isOk) throw new OracleFailure(`toMessage returned a badly typed message`, input)
}

/**
 * The frame decoder on a byte stream: `stream` is fed to a MessageReader as a server would (1 MiB
 * --max-size), in random pieces. Every event must be well formed and every failure a fatal IssError.
 * Returns how many messages came out and whether it failed.
 */
export function checkFrames(stream: Buffer, rng: Rng): {messages: number; rejected: number; failed: string | null} {
  const reader = new MessageReader({
    maxFrameBytes: maxFrameBytes(READER_MAX_SIZE),
    maxStreamBytes: READER_MAX_SIZE,
    byteOrder: 'detect',
    streamKeys: ['FILE_DATA'],
  })
  const events: ReaderEvent[] = []
  let failed: string | null = null
  try {
    for (const chunk of randomChunks(stream, rng)) reader.write(chunk, events)
  } catch (error) {
    const outcome = errorOutcome(error, stream, 'MessageReader', true)
    failed = outcome.kind === 'error' ? outcome.code : null
    const remaining = reader.announcedRemaining
    if (!Number.isSafeInteger(remaining) || remaining < 0 || remaining > 0xffff_ffff)
      throw new OracleFailure(`announcedRemaining is ${remaining}`, stream)
    // A failed reader stays failed.
    try {
      reader.write(Buffer.from([0]), [])
      throw new OracleFailure('MessageReader accepted bytes after a fatal error', stream)
    } catch (error_) {
      if (error_ instanceof OracleFailure) throw error_
      errorOutcome(error_, stream, 'MessageReader (after failure)', true)
    }
  }

  let messages = 0
  let rejected = 0
  const decodeEvents: DecodeEvent[] = []
  for (const event of events) {
    if (event.type === 'message') {
      messages++
      checkMessageShape(event.message, stream)
      if (event.frameLength < 2 || event.frameLength > maxFrameBytes(READER_MAX_SIZE))
        throw new OracleFailure(`a message from a ${event.frameLength}-byte frame`, stream)
    } else if (event.type === 'rejected') {
      rejected++
      if (!isIssError(event.error) || event.error.fatal || event.error.code !== ErrorCode.MALFORMED)
        throw new OracleFailure(`a rejected event with ${String(event.error)}`, stream)
    } else decodeEvents.push(event)
  }

  checkStreamEvents(decodeEvents, stream, 'MessageReader')
  return {messages, rejected, failed}
}

/** A frame around `pickle`: the true length in either byte order, or a lie. */
export function frame(pickle: Buffer, rng: Rng): Buffer {
  const order = rng.chance(0.5) ? 'big' : 'little'
  let length = pickle.length
  if (rng.chance(0.2)) {
    length = rng.pick([
      0,
      1,
      2,
      length - 1,
      length + 1,
      length * 2,
      0xffff_ffff,
      0xffff_fffe,
      0x0100_0000,
      0x0001_0000,
      rng.next(),
    ])
    length = Math.max(0, Math.min(0xffff_ffff, length))
  }

  return Buffer.concat([frameHeader(length, order), pickle])
}
