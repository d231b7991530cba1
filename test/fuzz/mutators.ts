// Byte-level mutations of CPython seed pickles, some of them aware of where opcodes and their length
// fields sit, so that a lie about a length reaches the decoder instead of dying on the first byte.
import {Op} from '../../src/core/protocol/opcodes.js'

/** A small, fast, seedable PRNG (mulberry32), so that every run can be replayed from its seed. */
export class Rng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** A uint32. */
  next(): number {
    this.state = (this.state + 0x6d_2b_79_f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n
  }

  chance(p: number): boolean {
    return this.next() / 0x1_00_00_00_00 < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff
    return out
  }
}

/** Where one opcode sits in a pickle, and where its length field is if it has one. */
export interface OpSite {
  readonly pos: number
  readonly code: number
  /** The bytes after the opcode byte up to the next opcode. */
  readonly argEnd: number
  readonly lengthField?: {readonly at: number; readonly size: 1 | 4 | 8}
  /** Text-line opcodes: where the line (without its newline) is. */
  readonly line?: {readonly start: number; readonly end: number}
}

const FIXED_ARG = new Map<number, number>([
  [Op.BINFLOAT, 8],
  [Op.BINGET, 1],
  [Op.BININT, 4],
  [Op.BININT1, 1],
  [Op.BININT2, 2],
  [Op.BINPUT, 1],
  [Op.EXT1, 1],
  [Op.EXT2, 2],
  [Op.EXT4, 4],
  [Op.LONG_BINGET, 4],
  [Op.LONG_BINPUT, 4],
  [Op.PROTO, 1],
])

const LENGTH_ARG = new Map<number, 1 | 4 | 8>([
  [Op.BINBYTES, 4],
  [Op.BINBYTES8, 8],
  [Op.BINSTRING, 4],
  [Op.BINUNICODE, 4],
  [Op.BINUNICODE8, 8],
  [Op.BYTEARRAY8, 8],
  [Op.LONG1, 1],
  [Op.LONG4, 4],
  [Op.SHORT_BINBYTES, 1],
  [Op.SHORT_BINSTRING, 1],
  [Op.SHORT_BINUNICODE, 1],
])

const ONE_LINE = new Set<number>([Op.FLOAT, Op.GET, Op.INT, Op.LONG, Op.PERSID, Op.PUT, Op.STRING, Op.UNICODE])
const TWO_LINES = new Set<number>([Op.GLOBAL, Op.INST])

/** Walks a well-formed pickle opcode by opcode (as pickletools.genops does); stops at STOP or at anything odd. */
export function scanOpcodes(pickle: Buffer): OpSite[] {
  const sites: OpSite[] = []
  let i = 0
  while (i < pickle.length) {
    const pos = i
    const code = pickle[i++]
    const fixed = FIXED_ARG.get(code)
    const lengthSize = LENGTH_ARG.get(code)
    if (fixed !== undefined) {
      i += fixed
      sites.push({pos, code, argEnd: i})
    } else if (lengthSize !== undefined) {
      const at = i
      if (at + lengthSize > pickle.length) break
      const length =
        lengthSize === 1 ? pickle[at] : lengthSize === 4 ? pickle.readUInt32LE(at) : Number(pickle.readBigUInt64LE(at))
      i = at + lengthSize + length
      sites.push({pos, code, argEnd: i, lengthField: {at, size: lengthSize}})
    } else if (code === Op.FRAME) {
      if (i + 8 > pickle.length) break
      // The FRAME's length covers the opcodes that follow; the frame's content is scanned as usual.
      sites.push({pos, code, argEnd: i + 8, lengthField: {at: i, size: 8}})
      i += 8
    } else if (ONE_LINE.has(code) || TWO_LINES.has(code)) {
      const start = i
      let end = pickle.indexOf(0x0a, i)
      if (end === -1) break
      if (TWO_LINES.has(code)) end = pickle.indexOf(0x0a, end + 1)
      if (end === -1) break
      i = end + 1
      sites.push({pos, code, argEnd: i, line: {start, end}})
    } else {
      sites.push({pos, code, argEnd: i})
    }

    if (code === Op.STOP || i > pickle.length) break
  }

  return sites
}

/** A seed with its opcode map, computed once. */
export interface Seed {
  readonly name: string
  readonly pickle: Buffer
  readonly sites: readonly OpSite[]
}

export function toSeed(name: string, pickle: Buffer): Seed {
  return {name, pickle, sites: scanOpcodes(pickle)}
}

/** Every opcode byte the decoder knows by name, allowed or refused. */
export const OPCODE_BYTES: readonly number[] = Object.values(Op)
/** Opcodes off the allowlist (DESIGN.md), which must be refused by name. */
export const REFUSED_OPCODES: readonly number[] = [
  Op.DUP,
  Op.PERSID,
  Op.BINPERSID,
  Op.BUILD,
  Op.INST,
  Op.OBJ,
  Op.NEWOBJ,
  Op.NEWOBJ_EX,
  Op.EXT1,
  Op.EXT2,
  Op.EXT4,
  Op.EMPTY_SET,
  Op.ADDITEMS,
  Op.FROZENSET,
  Op.NEXT_BUFFER,
  Op.READONLY_BUFFER,
]

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x5c, 0x27, 0x22, 0xc2, 0xc3, 0xed, 0xf4]

function lengthLies(size: 1 | 4 | 8, original: bigint, rng: Rng): bigint {
  const bits = BigInt(8 * size)
  const max = (1n << bits) - 1n
  const candidates = [
    0n,
    1n,
    original - 1n,
    original + 1n,
    original * 2n,
    (1n << (bits - 1n)) - 1n,
    1n << (bits - 1n),
    max,
    max - 1n,
    BigInt(rng.next()),
  ]
  if (size === 8) candidates.push(1n << 32n, (1n << 32n) - 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 31n, 16n << 20n)
  else if (size === 4) candidates.push(1n << 20n, (1n << 20n) + 1n, 16n << 20n)
  const value = rng.pick(candidates)
  // eslint-disable-next-line unicorn/prefer-math-min-max -- bigints: Math.min throws on BigInt
  return value < 0n ? 0n : value > max ? max : value
}

const LINE_LIES = [
  '',
  '-',
  '+',
  '0x10',
  '01',
  '00',
  '1L',
  '9'.repeat(4301),
  '9'.repeat(4300),
  '-' + '1'.repeat(4300),
  '4294967296',
  '99999999999',
  '1e999',
  '-1e999',
  'nan',
  'inf',
  '-infinity',
  '1.5e',
  "'unterminated",
  '"mixed\'',
  "'\\x4'",
  "'\\777'",
  "'\\'",
  "'\u{E9}'",
  '\\ud800',
  '\\U00110000',
  '\\u12',
  '\\',
  'os\nsystem',
  'builtins\neval',
  '_codecs\nencode',
  '__builtin__\nbytearray',
  'posix\nsystem',
]

/** One random mutation of `data`; `seeds` supplies the other half of a splice. */
export function mutate(seed: Seed, seeds: readonly Seed[], rng: Rng): Buffer {
  let data = seed.pickle
  let sites = seed.sites
  const rounds = 1 + rng.int(3)
  for (let round = 0; round < rounds; round++) {
    data = mutateOnce(data, sites, seeds, rng)
    // Sites no longer line up after the first change; later rounds fall back to byte-level moves.
    sites = round === 0 && data.length === seed.pickle.length ? sites : []
  }

  return data
}

function mutateOnce(data: Buffer, sites: readonly OpSite[], seeds: readonly Seed[], rng: Rng): Buffer {
  // A move that needs opcode sites when there are none draws again from the byte-level moves.
  let known = sites
  for (;;) {
    const out = mutation(data, known, seeds, rng)
    if (out !== null) return out
    known = []
  }
}

/** One randomly chosen move, or null if it needs an opcode site and `sites` has none that fits. */
function mutation(data: Buffer, sites: readonly OpSite[], seeds: readonly Seed[], rng: Rng): Buffer | null {
  const site = sites.length > 0 ? rng.pick(sites) : undefined
  const choice = rng.int(12)
  switch (choice) {
    case 0: {
      // Bit flips.
      const out = Buffer.from(data)
      const flips = 1 + rng.int(4)
      for (let k = 0; k < flips && out.length > 0; k++) out[rng.int(out.length)] ^= 1 << rng.int(8)
      return out
    }

    case 1: {
      // An interesting or random byte, or an opcode byte.
      const out = Buffer.from(data)
      if (out.length === 0) return out
      const at = site !== undefined && rng.chance(0.5) ? site.pos : rng.int(out.length)
      out[at] = rng.chance(0.5) ? rng.pick(INTERESTING_BYTES) : rng.pick(OPCODE_BYTES)
      return out
    }

    case 2: {
      // Insert bytes, often a refused opcode at an opcode boundary.
      const at = site === undefined ? rng.int(data.length + 1) : site.pos
      const insert = rng.chance(0.5) ? Buffer.from([rng.pick(REFUSED_OPCODES)]) : rng.bytes(1 + rng.int(8))
      return Buffer.concat([data.subarray(0, at), insert, data.subarray(at)])
    }

    case 3: {
      // Delete a range.
      const at = rng.int(data.length)
      const n = 1 + rng.int(Math.min(16, data.length - at))
      return Buffer.concat([data.subarray(0, at), data.subarray(at + n)])
    }

    case 4: {
      // Repeat a range (deep nesting, many items, memo churn).
      if (data.length === 0) return data
      const at = site === undefined ? rng.int(data.length) : site.pos
      const n = 1 + rng.int(Math.min(8, data.length - at))
      const times = 1 + rng.int(rng.chance(0.1) ? 2000 : 40)
      const piece = data.subarray(at, at + n)
      return Buffer.concat([data.subarray(0, at), ...Array.from({length: times}, () => piece), data.subarray(at)])
    }

    case 5: {
      // Splice: the head of this pickle, the tail of another (at opcode boundaries when known).
      const other = rng.pick(seeds)
      const cut = site === undefined ? rng.int(data.length + 1) : site.pos
      const otherSite = other.sites.length > 0 ? rng.pick(other.sites) : undefined
      const from = otherSite === undefined ? rng.int(other.pickle.length + 1) : otherSite.pos
      return Buffer.concat([data.subarray(0, cut), other.pickle.subarray(from)])
    }

    case 6: {
      // Truncate.
      return data.subarray(0, rng.int(data.length + 1))
    }

    case 7:
    case 8: {
      // Lie in a length field: find one by opcode and rewrite it.
      const withLength = sites.filter(
        (s) => s.lengthField !== undefined && s.lengthField.at + s.lengthField.size <= data.length,
      )
      if (withLength.length === 0) return null
      const {at, size} = rng.pick(withLength).lengthField!
      const out = Buffer.from(data)
      const original =
        size === 1 ? BigInt(out[at]) : size === 4 ? BigInt(out.readUInt32LE(at)) : out.readBigUInt64LE(at)
      const lie = lengthLies(size, original, rng)
      if (size === 1) out[at] = Number(lie)
      else if (size === 4) out.writeUInt32LE(Number(lie), at)
      else out.writeBigUInt64LE(lie, at)
      return out
    }

    case 9: {
      // Rewrite a text line (INT, LONG, FLOAT, STRING, UNICODE, PUT, GET, GLOBAL).
      const withLine = sites.filter((s) => s.line !== undefined)
      if (withLine.length === 0) return null
      const {start, end} = rng.pick(withLine).line!
      const lie = Buffer.from(rng.pick(LINE_LIES), 'latin1')
      const isKeepNewline = rng.chance(0.85)
      return Buffer.concat([data.subarray(0, start), lie, data.subarray(isKeepNewline ? end : end + 1)])
    }

    case 10: {
      // Swap an opcode for another one, allowed or refused.
      if (site === undefined) return null
      const out = Buffer.from(data)
      out[site.pos] = rng.pick(OPCODE_BYTES)
      return out
    }

    default: {
      // Drop one whole opcode with its argument.
      if (site === undefined) return null
      return Buffer.concat([data.subarray(0, site.pos), data.subarray(site.argEnd)])
    }
  }
}
