import {ErrorCode} from '../errors.js'
import type {DecodeBudget} from './decode-budget.js'
import {
  CostMeter,
  DEFAULT_PICKLE_LIMITS,
  malformedAt,
  type OpCursor,
  PickleError,
  type PickleLimits,
} from './pickle-limits.js'
import {PickleMachine} from './pickle-machine.js'
import {type DecodeEvent, PickleTokenizer} from './pickle-tokenizer.js'
import {opName} from './opcodes.js'
import type {PickleValue} from './values.js'

// The decoder is four rooms: pickle-tokenizer.ts reads opcodes and arguments, pickle-machine.ts runs
// the stack and memo, pickle-globals.ts holds the allowed callables, pickle-limits.ts the limits and
// the cost model. Importers see only this module.
export {DEFAULT_PICKLE_LIMITS, PickleError, type PickleLimits, REQUEST_PICKLE_LIMITS} from './pickle-limits.js'
export type {DecodeEvent} from './pickle-tokenizer.js'

export interface PickleDecoderOptions {
  limits?: Partial<PickleLimits>
  streamKeys?: readonly string[]
  /** The server's decode memory shared across connections; over it, E_BUSY. */
  budget?: DecodeBudget
}

/**
 * An incremental decoder for the pickle subset of DESIGN.md, fed Buffers of any size. Nothing is
 * executed: the allowed globals are recognised by name and applied here. A bytes value that directly
 * follows a stream key in the top-level dict goes out as stream events as it arrives and is replaced
 * by a StreamedBytes in the result. Every value is charged at its heap cost (pickle-limits.ts COST);
 * call release() when done with the decoder so that a shared budget gets its bytes back.
 */
export class PickleDecoder {
  private readonly cursor: OpCursor = {op: 0, opStart: 0}
  private readonly meter: CostMeter
  private readonly machine: PickleMachine
  private readonly tokenizer: PickleTokenizer
  private error?: PickleError

  constructor(options: PickleDecoderOptions = {}) {
    const limits = {...DEFAULT_PICKLE_LIMITS, ...options.limits}
    const streamKeys = new Set(options.streamKeys ?? ['FILE_DATA'])
    this.meter = new CostMeter(limits, this.cursor, options.budget)
    this.machine = new PickleMachine(limits, streamKeys, this.meter, this.cursor)
    this.tokenizer = new PickleTokenizer(limits, this.machine, this.meter, this.cursor)
  }

  get done(): boolean {
    return this.machine.done
  }

  /** The decoded top-level value once done. */
  get value(): PickleValue {
    if (!this.machine.done) throw new Error('PickleDecoder: the pickle is not complete')
    return this.machine.result
  }

  /** Total bytes consumed so far. */
  get position(): number {
    return this.tokenizer.base
  }

  /** Heap bytes charged so far for this pickle (see PickleLimits.maxTotalBytes). */
  get chargedBytes(): number {
    return this.meter.bytes
  }

  /** Heap bytes of what this pickle made the decoder create (memo references not counted again). */
  get createdBytes(): number {
    return this.meter.createdBytes
  }

  /**
   * Of those, bytes charged ahead: a held value is charged when its length is read, before its bytes
   * arrive, so that what it will hold is refused up front.
   */
  get chargedAhead(): number {
    return this.tokenizer.chargedAhead
  }

  /** The opcode a truncated pickle stopped in, if any (for the caller's error message). */
  get pendingOpcode(): string | undefined {
    return this.tokenizer.idle || this.machine.done ? undefined : opName(this.cursor.op)
  }

  /**
   * Consumes bytes up to and including STOP; returns how many bytes of `chunk` it consumed. Pushes
   * stream events into `events`. Throws PickleError; after that the decoder is unusable (and has
   * given its shared budget back).
   */
  write(chunk: Buffer, events: DecodeEvent[]): number {
    if (this.error) throw this.error
    try {
      return this.tokenizer.run(chunk, events)
    } catch (error) {
      this.error =
        error instanceof PickleError ? error : malformedAt(this.cursor, `decoder failure: ${(error as Error).message}`)
      this.release()
      throw this.error
    }
  }

  /** Gives the shared budget back what this pickle reserved; the value, if any, stays readable. */
  release(): void {
    this.meter.release()
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
