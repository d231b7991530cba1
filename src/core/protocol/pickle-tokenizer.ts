import {shown} from './pickle-globals.js'
import {
  bigintCost,
  COST,
  type CostMeter,
  decimalBytes,
  decimalParseWork,
  malformedAt,
  type OpCursor,
  type PickleError,
  type PickleLimits,
  tooLargeAt,
} from './pickle-limits.js'
import type {PickleMachine} from './pickle-machine.js'
import {PayloadReader} from './pickle-payload.js'
import {asciiText, GROW_STEP, parseFloatLine, stringLiteral} from './pickle-text.js'
import {Op, opName} from './opcodes.js'
import type {PickleDict} from './values.js'

/** What the decoder hands out besides the value: a streamed bytes value, chunk by chunk, in order. */
export type DecodeEvent =
  /**
   * `head`: the top-level keys decoded before the streamed value (in the dict or still pending on
   * the stack before SETITEMS), so that a consumer can decide about the value before storing a byte.
   */
  | {type: 'stream-start'; key: string; maxLength: number; head: PickleDict}
  | {type: 'stream-data'; chunk: Buffer}
  | {type: 'stream-end'; length: number}

// Python ints are capped as CPython caps int <-> str conversion: 4300 decimal digits, about 1786 bytes.
const MAX_INT_DIGITS = 4300
const GLOBAL_LINE_MAX = 256

const S_OPCODE = 0
const S_FIXED = 1
const S_LINE = 2
const S_PAYLOAD = 3

/**
 * The reading side of the decoder: splits the bytes into opcodes and their arguments (fixed-size
 * fields, text lines, length-prefixed data), whatever the chunking, checks them against FRAME
 * boundaries and the size limits, and hands each finished opcode to the machine. Streamed values
 * go out as events as they arrive.
 */
export class PickleTokenizer {
  /** Bytes consumed before the current chunk. */
  base = 0
  private state = S_OPCODE
  private readonly fixed = Buffer.alloc(8)
  private fixedNeed = 0
  private fixedHave = 0
  private lineParts: Buffer[] = []
  private lineLength = 0
  private lineMax = 0
  private globalModule?: Buffer
  private frameEnd?: number
  private readonly payload: PayloadReader

  constructor(
    private readonly limits: PickleLimits,
    private readonly machine: PickleMachine,
    private readonly meter: CostMeter,
    private readonly cursor: OpCursor,
  ) {
    this.payload = new PayloadReader(limits, machine, meter, cursor)
  }

  /** Bytes of a held value charged when announced that have not arrived yet. */
  get chargedAhead(): number {
    return this.payload.chargedAhead
  }

  /** Between opcodes (nothing of one is pending). */
  get idle(): boolean {
    return this.state === S_OPCODE
  }

  /**
   * Reads `chunk` until it ends or the machine has executed STOP; returns how many bytes it used.
   * `base` moves on by what was read, also when an error is thrown.
   */
  run(chunk: Buffer, events: DecodeEvent[]): number {
    let i = 0
    try {
      while (i < chunk.length && !this.machine.done) i = this.step(chunk, i, events)
    } finally {
      this.base += i
    }

    return i
  }

  private step(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    switch (this.state) {
      case S_OPCODE: {
        return this.onOpcode(chunk, i, events)
      }

      case S_FIXED: {
        return this.readFixed(chunk, i, events)
      }

      case S_LINE: {
        return this.readLine(chunk, i)
      }

      default: {
        const next = this.payload.read(chunk, i, events, (next) => {
          this.checkFrame(this.base + next)
        })
        if (!this.payload.active) this.state = S_OPCODE
        return next
      }
    }
  }

  private malformed(why: string): PickleError {
    return malformedAt(this.cursor, why)
  }

  private tooLarge(what: string, size: number | bigint, limit: number): PickleError {
    return tooLargeAt(this.cursor, what, size, limit)
  }

  private checkFrame(end: number): void {
    if (this.frameEnd !== undefined && end > this.frameEnd)
      throw this.malformed('an opcode crosses the end of its FRAME')
  }

  // ---- opcodes and their arguments

  private onOpcode(chunk: Buffer, i: number, events: DecodeEvent[]): number {
    const code = chunk[i]
    this.cursor.op = code
    this.cursor.opStart = this.base + i
    if (this.frameEnd !== undefined) {
      if (this.cursor.opStart === this.frameEnd) this.frameEnd = undefined
      else if (this.cursor.opStart > this.frameEnd) throw this.malformed('an opcode crosses the end of its FRAME')
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
        this.payload.startText(events)
        this.state = S_PAYLOAD
        return i + 1
      }

      case Op.STOP: {
        if (this.frameEnd !== undefined && this.frameEnd !== this.cursor.opStart + 1)
          throw this.malformed('STOP before the end of its FRAME')
        this.machine.execute(code)
        return i + 1
      }

      default: {
        this.machine.execute(code)
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
      this.checkFrame(end)
      this.onFixed(this.fixed.subarray(0, this.fixedNeed), end, events)
    }

    return i
  }

  private onFixed(arg: Buffer, end: number, events: DecodeEvent[]): void {
    const small = bigintCost(8)
    switch (this.cursor.op) {
      case Op.BININT1: {
        this.machine.pushNew(BigInt(arg[0]), small)
        break
      }

      case Op.BININT2: {
        this.machine.pushNew(BigInt(arg.readUInt16LE(0)), small)
        break
      }

      case Op.BININT: {
        this.machine.pushNew(BigInt(arg.readInt32LE(0)), small)
        break
      }

      case Op.BINFLOAT: {
        this.machine.pushNew(arg.readDoubleBE(0), COST.slot + COST.header)
        break
      }

      case Op.BINGET: {
        this.machine.memoGet(arg[0])
        break
      }

      case Op.LONG_BINGET: {
        this.machine.memoGet(arg.readUInt32LE(0))
        break
      }

      case Op.BINPUT: {
        this.machine.memoPut(arg[0])
        break
      }

      case Op.LONG_BINPUT: {
        this.machine.memoPut(arg.readUInt32LE(0))
        break
      }

      case Op.PROTO: {
        if (this.cursor.opStart !== 0) throw this.malformed('PROTO is only accepted as the first opcode')
        if (arg[0] > 5) throw this.malformed(`unsupported pickle protocol ${arg[0]}`)
        break
      }

      case Op.FRAME: {
        if (this.frameEnd !== undefined) throw this.malformed('a FRAME starts inside another FRAME')
        this.frameEnd = end + Number(arg.readBigUInt64LE(0))
        break
      }

      case Op.LONG1:
      case Op.SHORT_BINSTRING:
      case Op.SHORT_BINUNICODE:
      case Op.SHORT_BINBYTES: {
        this.startData(arg[0], end, events)
        break
      }

      case Op.LONG4:
      case Op.BINSTRING: {
        const length = arg.readInt32LE(0)
        if (length < 0) throw this.malformed(`negative length ${length}`)
        this.startData(length, end, events)
        break
      }

      case Op.BINUNICODE:
      case Op.BINBYTES: {
        this.startData(arg.readUInt32LE(0), end, events)
        break
      }

      default: {
        // BINUNICODE8, BINBYTES8, BYTEARRAY8
        const length = arg.readBigUInt64LE(0)
        const limit = Math.max(this.limits.maxStringBytes, this.limits.maxStreamBytes)
        if (length > BigInt(limit)) throw this.tooLarge(`A ${opName(this.cursor.op)} value`, length, limit)
        this.startData(Number(length), end, events)
      }
    }
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
    const before = this.lineLength
    this.lineLength += end - i
    // A long line (STRING, up to 4 MiB) is held until its end: charged per GROW_STEP it passes.
    const steps = Math.floor(this.lineLength / GROW_STEP) - Math.floor(before / GROW_STEP)
    if (steps > 0 && this.lineLength <= this.lineMax) this.meter.charge(steps * GROW_STEP)
    if (this.lineLength > this.lineMax) {
      if (this.cursor.op === Op.STRING) throw this.tooLarge('A STRING line', this.lineLength, this.lineMax)
      throw this.malformed(`the ${opName(this.cursor.op)} line is longer than ${this.lineMax} bytes`)
    }

    // A line within one chunk is read in place; only one cut by a chunk's end is copied.
    if (newline === -1) {
      this.lineParts.push(Buffer.from(chunk.subarray(i, end)))
      return chunk.length
    }

    const line =
      this.lineParts.length === 0 ? chunk.subarray(i, end) : Buffer.concat([...this.lineParts, chunk.subarray(i, end)])
    this.lineParts = []
    this.lineLength = 0
    this.state = S_OPCODE
    this.checkFrame(this.base + newline + 1)
    this.onLine(line)
    return newline + 1
  }

  private onLine(line: Buffer): void {
    const text = line.toString('latin1')
    switch (this.cursor.op) {
      case Op.INT: {
        if (text === '00' || text === '01') this.machine.pushNew(text === '01', COST.slot)
        else this.pushDecimal(text)
        break
      }

      case Op.LONG: {
        this.pushDecimal(text.endsWith('L') ? text.slice(0, -1) : text)
        break
      }

      case Op.FLOAT: {
        this.machine.pushNew(parseFloatLine(text, this.cursor, shown), COST.slot + COST.header)
        break
      }

      case Op.STRING: {
        const bytes = stringLiteral(line, this.cursor)
        const {length} = bytes
        if (length > this.limits.maxStringBytes) throw this.tooLarge('A str value', length, this.limits.maxStringBytes)
        this.machine.pushNew(asciiText(bytes, this.cursor), COST.slot + COST.header + length)
        break
      }

      case Op.PUT:
      case Op.GET: {
        if (!/^\d{1,10}$/.test(text)) throw this.malformed(`bad ${opName(this.cursor.op)} argument '${shown(text)}'`)
        if (this.cursor.op === Op.PUT) this.machine.memoPut(Number(text))
        else this.machine.memoGet(Number(text))
        break
      }

      default: {
        // GLOBAL: module line, then name line.
        if (this.globalModule === undefined) {
          this.globalModule = Buffer.from(line)
          this.expectLine(GLOBAL_LINE_MAX, 0)
        } else {
          const module = this.globalModule
          this.globalModule = undefined
          this.machine.pushGlobal(module.toString('utf8'), line.toString('utf8'), 'GLOBAL')
        }
      }
    }
  }

  /** INT and LONG lines: the digits are checked, counted and charged (memory and CPU) before BigInt parses them. */
  private pushDecimal(text: string): void {
    if (!/^[+-]?(0|[1-9]\d*)$/.test(text))
      throw this.malformed(`bad ${opName(this.cursor.op)} argument '${shown(text)}'`)
    const digits = text.length - (text.startsWith('+') || text.startsWith('-') ? 1 : 0)
    if (digits > MAX_INT_DIGITS) throw this.tooLarge('An int (decimal digits)', digits, MAX_INT_DIGITS)
    const cost = bigintCost(decimalBytes(digits))
    this.meter.spend(decimalParseWork(digits))
    this.machine.pushNew(BigInt(text), cost)
  }

  /** A length-prefixed value: within its FRAME, then read (held or streamed) by the payload reader. */
  private startData(length: number, end: number, events: DecodeEvent[]): void {
    if (this.frameEnd !== undefined && end + length > this.frameEnd)
      throw this.malformed(`a ${length}-byte value crosses the end of its FRAME`)
    this.state = S_PAYLOAD
    this.payload.startData(length, events)
    if (!this.payload.active) this.state = S_OPCODE
  }
}
