// Grammar-aware generation of pickles with fast-check: sequences of opcodes, allowed and refused,
// each with a plausible argument, inside the frames a message would have (PROTO, FRAME, a top-level
// dict, the FILE_DATA slot that streams).
import fc from 'fast-check'

import {Op} from '../../src/core/protocol/opcodes.js'
import {REFUSED_OPCODES} from './mutators.js'

function op(code: number, ...args: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([code]), ...args])
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt.asUintN(64, n))
  return b
}

function line(text: string): Buffer {
  return Buffer.from(text + '\n', 'latin1')
}

/** Little-endian two's complement, as LONG1 and LONG4 carry it. */
function longBytes(value: bigint): Buffer {
  if (value === 0n) return Buffer.alloc(0)
  const out: number[] = []
  let v = value
  while (true) {
    out.push(Number(v & 0xffn))
    v >>= 8n
    const sign = out.at(-1)! & 0x80
    if ((v === 0n && sign === 0) || (v === -1n && sign !== 0)) break
  }

  return Buffer.from(out)
}

const NO_ARG = [
  Op.MARK,
  Op.STOP,
  Op.POP,
  Op.POP_MARK,
  Op.NONE,
  Op.NEWTRUE,
  Op.NEWFALSE,
  Op.EMPTY_TUPLE,
  Op.TUPLE,
  Op.TUPLE1,
  Op.TUPLE2,
  Op.TUPLE3,
  Op.EMPTY_LIST,
  Op.LIST,
  Op.EMPTY_DICT,
  Op.DICT,
  Op.APPEND,
  Op.APPENDS,
  Op.SETITEM,
  Op.SETITEMS,
  Op.MEMOIZE,
  Op.STACK_GLOBAL,
  Op.REDUCE,
]

const NAMES = [
  'FILE_DATA',
  'COMMAND',
  'STATUS',
  'FILENAME',
  'DETAILS',
  'VERSION',
  'PUT',
  'REQUEST',
  'latin1',
  'utf-8',
  '_codecs',
  'encode',
  'builtins',
  '__builtin__',
  'bytes',
  'bytearray',
  'os',
  'posix',
  'system',
  'eval',
  'exec',
  '__import__',
  'getattr',
  'subprocess',
  'Popen',
  'collections',
  'OrderedDict',
  '__proto__',
  'constructor',
  'x.png',
  '\u{E9}\u{FF}',
  '\u{732B}',
  '\u{1F600}',
]

const GLOBALS: Array<[string, string]> = [
  ['_codecs', 'encode'],
  ['builtins', 'bytes'],
  ['builtins', 'bytearray'],
  ['__builtin__', 'bytes'],
  ['__builtin__', 'bytearray'],
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['builtins', '__import__'],
  ['subprocess', 'Popen'],
  ['collections', 'OrderedDict'],
  ['copyreg', '_reconstructor'],
  ['builtins', 'object'],
  ['_codecs', 'decode'],
  ['codecs', 'encode'],
  ['builtins', 'bytes.fromhex'],
  ['', ''],
]

const text = fc.oneof(
  {weight: 3, arbitrary: fc.constantFrom(...NAMES)},
  {weight: 1, arbitrary: fc.string({maxLength: 12, unit: 'binary'})},
  {weight: 1, arbitrary: fc.string({maxLength: 40})},
)

const smallBytes = fc.uint8Array({maxLength: 24}).map((a) => Buffer.from(a))

/** A bytes-like value with its length field sometimes lying (too long, too short, huge). */
const lengthOf = (actual: number) =>
  fc.oneof(
    {weight: 8, arbitrary: fc.constant(actual)},
    {weight: 1, arbitrary: fc.nat(actual + 4)},
    {weight: 1, arbitrary: fc.constantFrom(0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 16 << 20, (1 << 20) + 1)},
  )

/** Encodings of a str: every str opcode, CPython's own escaping for protocol 0. */
const strToken = text.chain((s) => {
  const utf8 = Buffer.from(s, 'utf8')
  const escaped = [...s]
    .map((ch) => {
      const cp = ch.codePointAt(0)!
      if (ch === '\\') return '\\u005c'
      if (ch === '\n') return '\\u000a'
      if (cp > 0xff)
        return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`
      return ch
    })
    .join('')
  return fc.oneof(
    lengthOf(utf8.length).map((n) => op(Op.SHORT_BINUNICODE, Buffer.from([n & 0xff]), utf8)),
    lengthOf(utf8.length).map((n) => op(Op.BINUNICODE, u32(n), utf8)),
    lengthOf(utf8.length).map((n) => op(Op.BINUNICODE8, u64(BigInt(n)), utf8)),
    fc.constant(op(Op.UNICODE, Buffer.from(escaped + '\n', 'latin1'))),
    fc.constant(op(Op.STRING, line(`'${s.replaceAll(/[^\x20-\x7E]/g, '?').replaceAll("'", "\\'")}'`))),
    lengthOf(utf8.length).map((n) => op(Op.SHORT_BINSTRING, Buffer.from([n & 0xff]), utf8)),
    lengthOf(utf8.length).map((n) => op(Op.BINSTRING, u32(n), utf8)),
  )
})

/** STRING lines with Python escapes, good and bad (protocol 0 to 2 as Python 2 wrote them). */
const escapedStringToken = fc
  .tuple(
    fc.constantFrom("'", '"'),
    fc.array(
      fc.constantFrom(
        'a',
        ' ',
        '\\n',
        '\\t',
        '\\x41',
        '\\xfF',
        '\\101',
        '\\7',
        '\\777',
        '\\\\',
        "\\'",
        '\\"',
        '\\q',
        '\\x4',
        '\\xg0',
        '\\',
        '"',
        "'",
        '\u{E9}',
      ),
      {maxLength: 12},
    ),
    fc.boolean(),
  )
  .map(([quote, parts, close]) =>
    op(Op.STRING, Buffer.from(`${quote}${parts.join('')}${close ? quote : ''}\n`, 'latin1')),
  )

const bytesToken = smallBytes.chain((b) =>
  fc.oneof(
    lengthOf(b.length).map((n) => op(Op.SHORT_BINBYTES, Buffer.from([n & 0xff]), b)),
    lengthOf(b.length).map((n) => op(Op.BINBYTES, u32(n), b)),
    lengthOf(b.length).map((n) => op(Op.BINBYTES8, u64(BigInt(n)), b)),
    lengthOf(b.length).map((n) => op(Op.BYTEARRAY8, u64(BigInt(n)), b)),
  ),
)

const intToken = fc.oneof(
  fc.integer({min: 0, max: 255}).map((n) => op(Op.BININT1, Buffer.from([n]))),
  fc.integer({min: 0, max: 0xffff}).map((n) => {
    const b = Buffer.alloc(2)
    b.writeUInt16LE(n)
    return op(Op.BININT2, b)
  }),
  fc.integer().map((n) => {
    const b = Buffer.alloc(4)
    b.writeInt32LE(n)
    return op(Op.BININT, b)
  }),
  fc.bigInt({min: -(1n << 200n), max: 1n << 200n}).map((n) => {
    const b = longBytes(n)
    return op(Op.LONG1, Buffer.from([b.length]), b)
  }),
  fc.bigInt({min: -(1n << 100n), max: 1n << 100n}).map((n) => {
    const b = longBytes(n)
    return op(Op.LONG4, u32(b.length), b)
  }),
  fc.bigInt({min: -(10n ** 40n), max: 10n ** 40n}).map((n) => op(Op.INT, line(n.toString()))),
  fc.bigInt({min: -(10n ** 40n), max: 10n ** 40n}).map((n) => op(Op.LONG, line(`${n}L`))),
  fc
    .constantFrom('00', '01', '-0', '007', '1_000', ' 1', '9'.repeat(4300), '9'.repeat(4301))
    .map((t) => op(Op.INT, line(t))),
  fc.constantFrom(0x7fff_ffff, 0xffff_ffff, 1786, 1787, 5000).map((n) => op(Op.LONG4, u32(n), Buffer.alloc(4, 0xff))),
)

const floatToken = fc.oneof(
  fc.double().map((d) => {
    const b = Buffer.alloc(8)
    b.writeDoubleBE(d)
    return op(Op.BINFLOAT, b)
  }),
  fc
    .oneof(fc.double().map(String), fc.constantFrom('inf', '-inf', 'nan', '1e999', '.5', '5.', 'e5', '1e', '0x1p3', ''))
    .map((t) => op(Op.FLOAT, line(t))),
)

const memoToken = fc.oneof(
  fc.nat(6).map((n) => op(Op.BINPUT, Buffer.from([n]))),
  fc.nat(6).map((n) => op(Op.BINGET, Buffer.from([n]))),
  fc.oneof(fc.nat(6), fc.constant(0xffff_ffff)).map((n) => op(Op.LONG_BINPUT, u32(n))),
  fc.oneof(fc.nat(6), fc.constant(0xffff_ffff)).map((n) => op(Op.LONG_BINGET, u32(n))),
  fc.oneof(fc.nat(6).map(String), fc.constantFrom('-1', '99999999999', 'x', '')).map((t) => op(Op.PUT, line(t))),
  fc.oneof(fc.nat(6).map(String), fc.constantFrom('-1', '99999999999', 'x', '')).map((t) => op(Op.GET, line(t))),
  fc.constant(Buffer.from([Op.MEMOIZE])),
)

const globalToken = fc
  .tuple(fc.constantFrom(...GLOBALS), fc.boolean())
  .map(([[module, name], inst]) => op(inst ? Op.INST : Op.GLOBAL, line(module), line(name)))

/** The three-opcode idiom STACK_GLOBAL expects, with str operands. */
const stackGlobalToken = fc.constantFrom(...GLOBALS).map(([module, name]) => {
  const m = Buffer.from(module, 'utf8')
  const n = Buffer.from(name, 'utf8')
  return Buffer.concat([
    op(Op.SHORT_BINUNICODE, Buffer.from([m.length]), m),
    op(Op.SHORT_BINUNICODE, Buffer.from([n.length]), n),
    Buffer.from([Op.STACK_GLOBAL]),
  ])
})

const refusedToken = fc.oneof(
  fc.constantFrom(...REFUSED_OPCODES).map((code) => Buffer.from([code])),
  fc.nat(255).map((n) => op(Op.EXT1, Buffer.from([n]))),
  fc.constant(op(Op.EXT2, Buffer.from([1, 0]))),
  fc.constant(op(Op.EXT4, u32(1))),
  fc.constant(op(Op.PERSID, line('id'))),
  fc.nat(255).map((n) => Buffer.from([n])),
)

const protoToken = fc.oneof(
  fc.nat(7).map((n) => op(Op.PROTO, Buffer.from([n]))),
  fc.constantFrom(0n, 1n, 8n, 1n << 32n, (1n << 64n) - 1n).map((n) => op(Op.FRAME, u64(n))),
)

/** One opcode with its argument. */
export const token: fc.Arbitrary<Buffer> = fc.oneof(
  {weight: 6, arbitrary: fc.constantFrom(...NO_ARG).map((code) => Buffer.from([code]))},
  {weight: 4, arbitrary: strToken},
  {weight: 1, arbitrary: escapedStringToken},
  {weight: 3, arbitrary: bytesToken},
  {weight: 3, arbitrary: intToken},
  {weight: 1, arbitrary: floatToken},
  {weight: 3, arbitrary: memoToken},
  {weight: 2, arbitrary: globalToken},
  {weight: 2, arbitrary: stackGlobalToken},
  {weight: 2, arbitrary: refusedToken},
  {weight: 1, arbitrary: protoToken},
)

const FILE_DATA_KEY = Buffer.concat([op(Op.SHORT_BINUNICODE, Buffer.from([9]), Buffer.from('FILE_DATA'))])

/** Openings a message pickle might have; the last one puts the next value where FILE_DATA streams. */
const prefix = fc.constantFrom(
  Buffer.alloc(0),
  op(Op.PROTO, Buffer.from([2])),
  op(Op.PROTO, Buffer.from([4])),
  Buffer.from([Op.EMPTY_DICT]),
  Buffer.from([Op.MARK]),
  Buffer.concat([op(Op.PROTO, Buffer.from([4])), Buffer.from([Op.EMPTY_DICT, Op.MEMOIZE, Op.MARK])]),
  Buffer.concat([op(Op.PROTO, Buffer.from([3])), Buffer.from([Op.EMPTY_DICT]), FILE_DATA_KEY]),
  Buffer.concat([op(Op.PROTO, Buffer.from([4])), Buffer.from([Op.EMPTY_DICT, Op.MARK]), FILE_DATA_KEY]),
  Buffer.concat([Buffer.from([Op.MARK]), FILE_DATA_KEY]),
)

const suffix = fc.constantFrom(
  Buffer.alloc(0),
  Buffer.from([Op.STOP]),
  Buffer.from([Op.SETITEM, Op.STOP]),
  Buffer.from([Op.SETITEMS, Op.STOP]),
  Buffer.from([Op.DICT, Op.STOP]),
  Buffer.from([Op.STOP, Op.STOP]),
)

/**
 * A whole generated pickle. With `framed`, the body sits in a protocol 4 FRAME whose length is the
 * body's, off by a little, or not.
 */
export const pickleProgram: fc.Arbitrary<Buffer> = fc
  .record({
    head: prefix,
    body: fc.array(token, {maxLength: 48}),
    tail: suffix,
    frame: fc.oneof({weight: 4, arbitrary: fc.constant(null)}, {weight: 1, arbitrary: fc.integer({min: -2, max: 2})}),
  })
  .map(({head, body, tail, frame}) => {
    const inner = Buffer.concat([head, ...body, tail])
    if (frame === null) return inner
    const length = BigInt(Math.max(0, inner.length + frame))
    return Buffer.concat([op(Op.PROTO, Buffer.from([4])), op(Op.FRAME, u64(length)), inner])
  })
