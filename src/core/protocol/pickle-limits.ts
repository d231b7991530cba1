import {ErrorCode, type ErrorCodeValue, IssError} from '../errors.js'
import {DECODE_BUDGET_STEP, type DecodeBudget} from './decode-budget.js'
import {opName} from './opcodes.js'

/**
 * Bounds on what one pickle may make the decoder hold and do. Sizes are bytes of heap, measured
 * (see COST). Depth is an E_MALFORMED refusal; every other limit is E_TOO_LARGE.
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
  /**
   * Everything not streamed, at its measured heap cost (COST), the decoder's own bookkeeping included,
   * counting a memo reference again each time. Never refunded within a message, so it also bounds the
   * objects the message makes the decoder create.
   */
  maxTotalBytes: number
  /** One streamed value, decoded. */
  maxStreamBytes: number
  /**
   * CPU work beyond the steady per-byte cost, in units of about 1 ns on the reference machine:
   * parsing a decimal int (INT, LONG lines) is quadratic in its digits.
   */
  maxWork: number
}

export const DEFAULT_PICKLE_LIMITS: Readonly<PickleLimits> = Object.freeze({
  maxDepth: 64,
  maxItems: 1_000_000,
  maxStringBytes: 1024 * 1024,
  maxTotalBytes: 16 * 1024 * 1024,
  maxStreamBytes: Number.MAX_SAFE_INTEGER,
  maxWork: 100_000_000,
})

/**
 * What a server allows one request: a request is a head of short keys (names are at most 255 bytes,
 * though a 1 MiB FILENAME must still decode to be refused by the name rules) plus a streamed
 * FILE_DATA, so 4 MiB of heap is ample. The CPU a hostile request can make the server spend before it
 * is refused is proportional to this bound: about 4 times less than the decoder's default.
 */
export const REQUEST_PICKLE_LIMITS: Readonly<Partial<PickleLimits>> = Object.freeze({
  maxTotalBytes: 4 * 1024 * 1024,
  maxWork: 25_000_000,
})

/**
 * A pickle that is malformed, outside the subset (E_MALFORMED), over a limit (E_TOO_LARGE), or that
 * would take the server's shared decode budget past its end (E_BUSY). Always fatal.
 */
export class PickleError extends IssError {
  /** The opcode in progress, or the refused global, e.g. 'REDUCE', 'GLOBAL os.system'. */
  readonly opcode?: string

  constructor(code: ErrorCodeValue, message: string, opcode?: string) {
    super(code, message, {fatal: true})
    this.name = 'PickleError'
    if (opcode !== undefined) this.opcode = opcode
  }
}

/** The opcode being decoded, shared by the tokenizer (which sets it) and whoever reports an error. */
export interface OpCursor {
  op: number
  /** Its offset in the pickle. */
  opStart: number
}

export function malformedAt(cursor: OpCursor, why: string, opcode: string = opName(cursor.op)): PickleError {
  return new PickleError(ErrorCode.MALFORMED, `Malformed message: ${why} (pickle byte ${cursor.opStart})`, opcode)
}

export function tooLargeAt(cursor: OpCursor, what: string, size: number | bigint, limit: number): PickleError {
  return new PickleError(
    ErrorCode.TOO_LARGE,
    `${what} is ${size} bytes, over the limit of ${limit} bytes`,
    opName(cursor.op),
  )
}

/**
 * Heap bytes per thing the decoder makes, measured on Node 22 x64 (pointer compression off) with
 * --expose-gc and process.memoryUsage().heapUsed over 200,000 of each, rounded up (bench/decode-cost.js,
 * docs/security.md "Cost model"). A container's entries also pay for the growth room of its table.
 */
export const COST = {
  /** Any value on the decoder's stack: a slot in the stack and one in its size array, with growth room. */
  slot: 24,
  /** A float (HeapNumber) or the header of a BigInt or string. */
  header: 24,
  /** A Buffer's object and backing store header (its bytes on top). */
  bytes: 112,
  /** An empty dict (a Map: 194 bytes measured, its first hash table included). */
  dict: 200,
  /** One dict entry (a Map entry is 3 words, plus up to one doubling of the table). */
  dictEntry: 48,
  /** An empty list (array object; its first store comes with the first item). */
  list: 48,
  /** One list item: a pointer, plus 50% growth room. */
  listItem: 16,
  /** A tuple: its object and an exact-size array. */
  tuple: 80,
  tupleItem: 8,
  /** The decoder's own bookkeeping of a container: its size-and-depth record. */
  container: 48,
  /** One memo entry: the map entry and its {value, size} record, plus the table's growth room. */
  memo: 96,
  /** A container frozen by a memo reference: one entry in the frozen set. */
  frozen: 32,
  /** An allowed global waiting for REDUCE. */
  global: 64,
} as const

/** Heap bytes of a BigInt of `bytes` bytes of magnitude (stored in 8-byte digits). */
export function bigintCost(bytes: number): number {
  return COST.slot + COST.header + Math.ceil(bytes / 8) * 8
}

/** A decimal int of n digits holds about n * log2(10) / 8 bytes. */
export function decimalBytes(digits: number): number {
  return Math.ceil((digits * 3.3223) / 8)
}

/**
 * Parsing n decimal digits into a BigInt takes about n^2 / 300 ns (62 us for 4300 digits, measured
 * with BigInt() on Node 22); the rest of decoding is linear in the input.
 */
export function decimalParseWork(digits: number): number {
  return Math.ceil((digits * digits) / 300)
}

/**
 * Counts what one message costs: values made (maxItems), heap bytes (maxTotalBytes), extra CPU work
 * (maxWork), and reserves the bytes from the server's shared budget, if any, as they grow.
 */
export class CostMeter {
  private items = 0
  private total = 0
  private referenced = 0
  private work = 0
  private reserved = 0

  constructor(
    private readonly limits: PickleLimits,
    private readonly cursor: OpCursor,
    private readonly budget?: DecodeBudget,
  ) {}

  /** Heap bytes charged so far. */
  get bytes(): number {
    return this.total
  }

  /** Heap bytes of the objects this message made, that is without the charges of memo references. */
  get createdBytes(): number {
    return this.total - this.referenced
  }

  /** A memo reference: a new value for the limits, charged as a copy of what it points to. */
  reference(bytes: number): void {
    this.referenced += bytes - COST.slot
    this.value(bytes)
  }

  /** One new value (toward maxItems) costing `bytes`. */
  value(bytes: number): void {
    if (++this.items > this.limits.maxItems)
      throw tooLargeAt(this.cursor, 'The pickle (values)', this.items, this.limits.maxItems)
    this.charge(bytes)
  }

  /** Heap bytes that are not a new value: container entries, memo entries, bookkeeping. */
  charge(bytes: number): void {
    this.total += bytes
    if (this.total > this.limits.maxTotalBytes)
      throw tooLargeAt(this.cursor, 'The decoded pickle (heap cost)', this.total, this.limits.maxTotalBytes)
    if (this.budget !== undefined && this.total > this.reserved) this.reserve()
  }

  /** CPU work in units of about 1 ns, beyond the steady per-byte cost. */
  spend(units: number): void {
    this.work += units
    if (this.work > this.limits.maxWork)
      throw new PickleError(
        ErrorCode.TOO_LARGE,
        `The pickle's decoding work is over its limit (${this.limits.maxWork} units; decimal ints cost the square of their digits)`,
        opName(this.cursor.op),
      )
  }

  /** Gives the shared budget back everything reserved; the meter can go on (for a new message). */
  release(): void {
    if (this.budget !== undefined && this.reserved > 0) this.budget.release(this.reserved)
    this.reserved = 0
  }

  private reserve(): void {
    const step = Math.max(DECODE_BUDGET_STEP, this.total - this.reserved)
    if (!this.budget!.tryReserve(step))
      throw new PickleError(
        ErrorCode.BUSY,
        'Server busy: the memory for decoding requests is in use by other connections; try again shortly',
        opName(this.cursor.op),
      )
    this.reserved += step
  }
}
