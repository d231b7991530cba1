import {malformedAt, type OpCursor} from './pickle-limits.js'

/**
 * The text forms of the pickle subset: protocol 0's raw-unicode-escape lines (UNICODE), quoted
 * STRING literals, decimal and float lines, and UTF-8 to latin-1 for the str argument of
 * _codecs.encode. Pure functions and one small state machine, each refusing by the opcode in progress.
 */

export function hexDigit(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37
  return -1
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4
}

/** Little-endian two's complement (LONG1, LONG4). */
export function signedLittleEndian(data: Buffer): bigint {
  if (data.length === 0) return 0n
  const value = BigInt('0x' + Buffer.from(data).reverse().toString('hex'))
  return (data.at(-1)! & 0x80) === 0 ? value : value - (1n << BigInt(8 * data.length))
}

/** Python 3 reads protocol 0 to 2 STRING opcodes as ASCII str. */
export function asciiText(bytes: Buffer, cursor: OpCursor): string {
  for (const byte of bytes) if (byte > 0x7f) throw malformedAt(cursor, 'a STRING value is not ASCII')
  return bytes.toString('latin1')
}

export function parseFloatLine(text: string, cursor: OpCursor, shown: (text: string) => string): number {
  const match = /^([+-]?)(?:((?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)|(inf|infinity)|(nan))$/i.exec(text)
  if (match === null) throw malformedAt(cursor, `bad FLOAT argument '${shown(text)}'`)
  const sign = match[1] === '-' ? -1 : 1
  if (match[3] !== undefined) return sign * Infinity
  if (match[4] !== undefined) return NaN
  return sign * Number(match[2])
}

const SIMPLE_ESCAPES: Readonly<Record<number, number>> = {
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

/** STRING: the bytes of a quoted Python bytes literal. */
export function stringLiteral(line: Buffer, cursor: OpCursor): Buffer {
  const quote = line[0]
  if (line.length < 2 || (quote !== 0x27 && quote !== 0x22) || line.at(-1) !== quote)
    throw malformedAt(cursor, 'the STRING argument must be quoted')
  const body = line.subarray(1, -1)
  const out = Buffer.allocUnsafe(body.length)
  let o = 0
  for (let i = 0; i < body.length; i++) {
    const byte = body[i]
    if (byte !== 0x5c) {
      out[o++] = byte
      continue
    }

    if (++i >= body.length) throw malformedAt(cursor, 'trailing \\ in a STRING')
    const next = body[i]
    if (SIMPLE_ESCAPES[next] !== undefined) out[o++] = SIMPLE_ESCAPES[next]
    else if (next >= 0x30 && next <= 0x37) {
      let value = next - 0x30
      for (let n = 0; n < 2 && i + 1 < body.length && body[i + 1] >= 0x30 && body[i + 1] <= 0x37; n++)
        value = value * 8 + body[++i] - 0x30
      if (value > 0xff) throw malformedAt(cursor, 'octal escape above \\377 in a STRING')
      out[o++] = value
    } else if (next === 0x78) {
      const high = i + 1 < body.length ? hexDigit(body[i + 1]) : -1
      const low = i + 2 < body.length ? hexDigit(body[i + 2]) : -1
      if (high < 0 || low < 0) throw malformedAt(cursor, 'invalid \\x escape in a STRING')
      out[o++] = high * 16 + low
      i += 2
    } else {
      out[o++] = 0x5c
      out[o++] = next
    }
  }

  return out.subarray(0, o)
}

/**
 * UTF-8 to latin-1 for the str argument of _codecs.encode, streamed. Only 1-byte and C2/C3 2-byte
 * sequences can be latin-1; a lead byte cut off at the end of a chunk waits in `state.lead`.
 */
export function latin1FromUtf8(piece: Buffer, state: {lead: number}, cursor: OpCursor): Buffer {
  const n = piece.length
  const out = Buffer.allocUnsafe(n + 1)
  let o = 0
  let lead = state.lead
  for (let k = 0; k < n; k++) {
    const byte = piece[k]
    if (lead !== 0) {
      if ((byte & 0xc0) !== 0x80) throw malformedAt(cursor, 'a str is not valid UTF-8')
      out[o++] = ((lead & 0x03) << 6) | (byte & 0x3f)
      lead = 0
    } else if (byte < 0x80) out[o++] = byte
    else if (byte === 0xc2 || byte === 0xc3) lead = byte
    else if (byte >= 0xc4 && byte <= 0xf4)
      throw malformedAt(cursor, "_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
    else throw malformedAt(cursor, 'a str is not valid UTF-8')
  }

  state.lead = lead
  return out.subarray(0, o)
}

/** Held text and long lines are charged in steps of this many bytes, at fixed points of the input. */
export const GROW_STEP = 64 * 1024

/**
 * Protocol 0's UNICODE: a raw-unicode-escape line, decoded as it arrives. Held, it builds a str
 * (refused past `maxUtf8Bytes` of UTF-8); streamed, each call returns the latin-1 bytes it decoded.
 */
export class UnicodeLine {
  /** UTF-8 bytes of the str so far (held form). */
  utf8Bytes = 0
  /** What `onGrow` was given so far. */
  chargedBytes = 0
  private readonly codes: number[] = []
  private readonly parts: string[] = []
  /** 0 plain, 1 after a backslash, 2 in the hex digits of \u or \U. */
  private mode: 0 | 1 | 2 = 0
  private hexLeft = 0
  private hexValue = 0

  constructor(
    private readonly cursor: OpCursor,
    readonly streamed: boolean,
    private readonly maxUtf8Bytes: number,
    private readonly onTooLarge: (size: number) => Error,
    /** Held: called with 2 x GROW_STEP each time the text passes another GROW_STEP bytes of UTF-8. */
    private readonly onGrow: (bytes: number) => void,
  ) {}

  /** The held str, once the line is finished. */
  text(): string {
    if (this.codes.length > 0) this.parts.push(String.fromCodePoint(...this.codes))
    this.codes.length = 0
    return this.parts.join('')
  }

  /** Reads from `i` up to and including the newline: where it stopped, whether the line ended, and (streamed) the bytes. */
  read(chunk: Buffer, i: number): {next: number; finished: boolean; out?: Buffer} {
    // One byte more than the input: a backslash left pending by the previous chunk comes out here, before
    // this chunk's first byte, when it turns out not to start an escape.
    const out = this.streamed ? Buffer.allocUnsafe(chunk.length - i + 1) : undefined
    let o = 0
    let finished = false
    const emit = (codePoint: number) => {
      if (codePoint >= 0xd8_00 && codePoint <= 0xdf_ff)
        throw malformedAt(this.cursor, 'a str holds a lone surrogate (refused)')
      if (out === undefined) {
        this.codes.push(codePoint)
        this.utf8Bytes += utf8Length(codePoint)
        if (this.utf8Bytes >= this.chargedBytes / 2 + GROW_STEP) {
          this.chargedBytes += 2 * GROW_STEP
          this.onGrow(2 * GROW_STEP)
        }

        if (this.codes.length >= 8192) {
          this.parts.push(String.fromCodePoint(...this.codes))
          this.codes.length = 0
        }
      } else {
        if (codePoint > 0xff)
          throw malformedAt(this.cursor, "_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
        out[o++] = codePoint
      }
    }

    // Streamed, plain bytes are latin-1 already: copy runs up to the next backslash or the line's end.
    const newline = out === undefined ? -1 : chunk.indexOf(0x0a, i)
    const lineEnd = newline === -1 ? chunk.length : newline
    for (; i < chunk.length; i++) {
      if (out !== undefined && this.mode === 0 && i < lineEnd) {
        const found = chunk.subarray(i, lineEnd).indexOf(0x5c)
        const runEnd = found === -1 ? lineEnd : i + found
        o += chunk.copy(out, o, i, runEnd)
        i = runEnd
        if (i === chunk.length) break
      }

      const byte = chunk[i]
      if (this.mode === 0) {
        if (byte === 0x0a) {
          finished = true
          i++
          break
        }

        if (byte === 0x5c) this.mode = 1
        else emit(byte)
      } else if (this.mode === 1) {
        if (byte === 0x75 || byte === 0x55) {
          this.mode = 2
          this.hexLeft = byte === 0x75 ? 4 : 8
          this.hexValue = 0
        } else {
          // Not an escape: the backslash stands for itself, and a newline still ends the line.
          emit(0x5c)
          this.mode = 0
          if (byte === 0x0a) {
            finished = true
            i++
            break
          }

          emit(byte)
        }
      } else {
        const digit = hexDigit(byte)
        if (digit < 0) throw malformedAt(this.cursor, 'truncated \\uXXXX escape in a UNICODE line')
        this.hexValue = this.hexValue * 16 + digit
        if (--this.hexLeft === 0) {
          if (this.hexValue > 0x10_ff_ff) throw malformedAt(this.cursor, '\\Uxxxxxxxx out of range in a UNICODE line')
          this.mode = 0
          emit(this.hexValue)
        }
      }

      if (out === undefined && this.utf8Bytes > this.maxUtf8Bytes) throw this.onTooLarge(this.utf8Bytes)
    }

    return {next: i, finished, out: out?.subarray(0, o)}
  }
}
