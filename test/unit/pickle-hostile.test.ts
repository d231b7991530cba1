import {expect} from 'chai'
import fc from 'fast-check'

import {isIssError} from '../../src/core/errors.js'
import {
  type DecodeEvent,
  decodePickle,
  PickleDecoder,
  PickleError,
  type PickleLimits,
} from '../../src/core/protocol/pickle-decoder.js'
import {goldenVectors, hostileVectors} from '../fixtures/pickle/golden.js'

/** Builds a pickle from latin-1 text and byte arrays. */
function bytes(...parts: Array<string | number[] | Buffer>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(n)
  return b
}

interface Expectation {
  code?: 'E_MALFORMED' | 'E_TOO_LARGE'
  opcode?: string | RegExp
  message?: RegExp
  streamKeys?: readonly string[]
  limits?: Partial<PickleLimits>
}

/** Decodes whole and byte by byte; both must end in the same typed, fatal PickleError. */
function refusal(data: Buffer, expectation: Expectation = {}): {error: PickleError; events: DecodeEvent[]} {
  const errors: PickleError[] = []
  let events: DecodeEvent[] = []
  for (const chunkSize of [data.length, 1]) {
    const decoder = new PickleDecoder({limits: expectation.limits, streamKeys: expectation.streamKeys})
    const seen: DecodeEvent[] = []
    let caught: unknown
    try {
      for (let i = 0; i < data.length && !decoder.done; i += chunkSize)
        decoder.write(data.subarray(i, i + chunkSize), seen)
    } catch (error) {
      caught = error
    }

    expect(caught, `refused (chunks of ${chunkSize})`).to.be.instanceOf(PickleError)
    const error = caught as PickleError
    expect(isIssError(error)).to.equal(true)
    expect(error.fatal).to.equal(true)
    expect(error.code).to.equal(expectation.code ?? 'E_MALFORMED')
    if (expectation.message) expect(error.message).to.match(expectation.message)
    if (typeof expectation.opcode === 'string') expect(error.opcode).to.equal(expectation.opcode)
    else if (expectation.opcode) expect(error.opcode).to.match(expectation.opcode)
    // Unusable afterwards.
    expect(() => decoder.write(Buffer.from('.'), [])).to.throw(PickleError)
    errors.push(error)
    if (chunkSize === data.length) events = seen
  }

  expect(errors[1].message).to.equal(errors[0].message)
  return {error: errors[0], events}
}

const PROTO4_DICT = '\x80\x04}'

describe('pickle-hostile', () => {
  describe('refused opcodes, each named', () => {
    const refusedOps: Array<[string, number]> = [
      ['BUILD', 0x62],
      ['INST', 0x69],
      ['OBJ', 0x6f],
      ['NEWOBJ', 0x81],
      ['NEWOBJ_EX', 0x92],
      ['PERSID', 0x50],
      ['BINPERSID', 0x51],
      ['EXT1', 0x82],
      ['EXT2', 0x83],
      ['EXT4', 0x84],
      ['NEXT_BUFFER', 0x97],
      ['READONLY_BUFFER', 0x98],
      ['EMPTY_SET', 0x8f],
      ['ADDITEMS', 0x90],
      ['FROZENSET', 0x91],
      ['DUP', 0x32],
    ]
    for (const [name, code] of refusedOps) {
      it(`refuses ${name}`, () => {
        refusal(bytes(PROTO4_DICT, [code], 'x\x00\x00\x00\x00.'), {
          opcode: name,
          message: new RegExp(`refused opcode ${name}`),
        })
      })
    }

    it('refuses bytes that are no opcode', () => {
      for (const code of [0x00, 0x01, 0x20, 0x99, 0xfe, 0xff]) {
        refusal(bytes(PROTO4_DICT, [code], '.'), {opcode: `0x${code.toString(16)}`, message: /unknown opcode/})
      }
    })
  })

  describe('refused globals and calls', () => {
    const globals: Array<[string, Buffer, string]> = [
      ['os.system by GLOBAL', bytes("cos\nsystem\n(S'echo hi'\ntR."), 'GLOBAL os.system'],
      [
        'os.system by STACK_GLOBAL',
        bytes('\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.'),
        'STACK_GLOBAL os.system',
      ],
      ['posix.system', bytes("cposix\nsystem\n(S'id'\ntR."), 'GLOBAL posix.system'],
      ['builtins.eval', bytes('\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.'), 'STACK_GLOBAL builtins.eval'],
      ['__builtin__.eval', bytes("c__builtin__\neval\n(S'1'\ntR."), 'GLOBAL __builtin__.eval'],
      ['builtins.getattr', bytes('cbuiltins\ngetattr\n.'), 'GLOBAL builtins.getattr'],
      ['builtins.__import__', bytes('cbuiltins\n__import__\n.'), 'GLOBAL builtins.__import__'],
      ['subprocess.Popen', bytes('csubprocess\nPopen\n.'), 'GLOBAL subprocess.Popen'],
      ['collections.OrderedDict', bytes('ccollections\nOrderedDict\n)R.'), 'GLOBAL collections.OrderedDict'],
      ['codecs.encode (not _codecs)', bytes('ccodecs\nencode\n.'), 'GLOBAL codecs.encode'],
      ['_codecs.decode', bytes('c_codecs\ndecode\n.'), 'GLOBAL _codecs.decode'],
    ]
    for (const [name, data, opcode] of globals) {
      it(`refuses ${name}`, () => {
        refusal(data, {opcode, message: /refused global/})
      })
    }

    it('refuses _codecs.encode with another codec, naming it', () => {
      refusal(bytes('c_codecs\nencode\n(Vabc\nVutf-8\ntR.'), {opcode: 'REDUCE', message: /codec 'utf-8'/})
      refusal(bytes('c_codecs\nencode\n(Vabc\nVrot13\ntR.'), {opcode: 'REDUCE', message: /codec 'rot13'/})
    })

    it('refuses _codecs.encode with a code point above 0xFF, held or streamed', () => {
      refusal(bytes('c_codecs\nencode\n(V\\u0100\nVlatin1\ntR.'), {opcode: 'REDUCE', message: /above 0xFF/})
      const streamed = bytes(
        '\x80\x02}X\t\x00\x00\x00FILE_DATAc_codecs\nencode\nX\x03\x00\x00\x00a\xc4\x80X\x06\x00\x00\x00latin1\x86Rs.',
      )
      refusal(streamed, {opcode: 'REDUCE', message: /above 0xFF/})
      const protocol0 = bytes('(dp0\nVFILE_DATA\nc_codecs\nencode\n(Va\\u0100\nVlatin1\ntRs.')
      refusal(protocol0, {opcode: 'REDUCE', message: /above 0xFF/})
    })

    it('refuses _codecs.encode with the wrong number or types of arguments', () => {
      refusal(bytes('c_codecs\nencode\n(Vabc\ntR.'), {opcode: 'REDUCE', message: /encode\(str\)/})
      refusal(bytes('c_codecs\nencode\n(K\x01Vlatin1\ntR.'), {opcode: 'REDUCE', message: /encode\(int, str\)/})
      refusal(bytes('c_codecs\nencode\n(Va\nVlatin1\nVstrict\ntR.'), {opcode: 'REDUCE'})
    })

    it('refuses bytes(int) and bytearray(int): bytes(10**9) allocates nothing', () => {
      refusal(bytes('c__builtin__\nbytes\nJ\x00\xca\x9a\x3b\x85R.'), {opcode: 'REDUCE', message: /bytes\(int\)/})
      refusal(bytes('\x80\x04\x8c\x08builtins\x8c\tbytearray\x93K\x05\x85R.'), {
        opcode: 'REDUCE',
        message: /bytearray\(int\)/,
      })
      refusal(bytes('c__builtin__\nbytes\n(Vabc\ntR.'), {opcode: 'REDUCE', message: /bytes\(str\)/})
      refusal(bytes('c__builtin__\nbytes\n(C\x01aC\x01btR.'), {opcode: 'REDUCE', message: /bytes\(bytes, bytes\)/})
    })

    it('refuses REDUCE on anything but an allowed global, and non-tuple arguments', () => {
      refusal(bytes('\x80\x04])R.'), {opcode: 'REDUCE', message: /REDUCE on a list/})
      refusal(bytes('\x80\x04\x8c\x01a)R.'), {opcode: 'REDUCE', message: /REDUCE on a str/})
      refusal(bytes('c__builtin__\nbytes\n]R.'), {opcode: 'REDUCE', message: /list argument/})
    })

    it('refuses an allowed global used as a value', () => {
      refusal(bytes('\x80\x04}(\x8c\x01ac__builtin__\nbytes\nu.'), {opcode: 'GLOBAL __builtin__.bytes'})
      refusal(bytes('c__builtin__\nbytes\n.'), {message: /outside the subset/})
      refusal(bytes('\x80\x04(c__builtin__\nbytes\nl.'), {opcode: 'GLOBAL __builtin__.bytes'})
    })

    it('refuses STACK_GLOBAL with non-str arguments', () => {
      refusal(bytes('\x80\x04K\x01K\x02\x93.'), {opcode: 'STACK_GLOBAL', message: /requires two str/})
    })
  })

  describe('values CPython pickles that are outside the subset', () => {
    const expected: Record<string, RegExp> = {
      'os.system': /refused global posix\.system/,
      'builtins.eval': /refused global (__builtin__|builtins)\.eval/,
      'builtins.getattr': /refused global (__builtin__|builtins)\.getattr/,
      'class instance': /refused global (copy_reg\._reconstructor|__main__\.Instance)/,
      'OrderedDict top-level': /refused global collections\.OrderedDict/,
      'set value': /refused (global (__builtin__|builtins)\.set|opcode EMPTY_SET)/,
      'frozenset value': /refused (global (__builtin__|builtins)\.frozenset|opcode FROZENSET)/,
      'complex value': /refused global (__builtin__|builtins)\.complex/,
      'lone surrogate': /surrogate/,
      'surrogate pair as two code points': /surrogate/,
      'tuple key': /dict key of type tuple/,
      'float key': /dict key of type float/,
      'None key': /dict key of type None/,
      'bool key': /dict key of type bool/,
      'bytes key': /dict key of type bytes/,
    }

    it('refuses each at every protocol with a typed error naming the reason', function () {
      this.timeout(60_000)
      const vectors = hostileVectors()
      expect(new Set(vectors.map((v) => v.name))).to.deep.equal(new Set(Object.keys(expected)))
      for (const v of vectors) {
        const {error} = refusal(v.pickle)
        expect(error.message, `${v.name} at protocol ${v.protocol}`).to.match(expected[v.name])
        if (error.message.includes('refused global')) expect(error.opcode).to.match(/^(STACK_)?GLOBAL /)
      }
    })
  })

  describe('truncated input', () => {
    it('every prefix of a golden pickle is refused as truncated, whole and byte by byte, never hanging', function () {
      this.timeout(60_000)
      const vectors = goldenVectors().filter((v) => v.name === 'seed example' || v.name === 'nested')
      let prefixes = 0
      for (const v of vectors) {
        for (let length = 0; length < v.pickle.length; length++) {
          const prefix = v.pickle.subarray(0, length)
          expect(() => decodePickle(prefix), `${v.name} ${v.protocol} cut at ${length}`)
            .to.throw(PickleError)
            .with.property('code', 'E_MALFORMED')
          const decoder = new PickleDecoder()
          for (let i = 0; i < prefix.length; i++) decoder.write(prefix.subarray(i, i + 1), [])
          expect(decoder.done).to.equal(false)
          prefixes++
        }
      }

      expect(prefixes).to.be.greaterThan(1000)
      expect(() => decodePickle(Buffer.from('\x80\x04\x8c\x05ab', 'latin1'))).to.throw(/truncated.*SHORT_BINUNICODE/)
    })

    it('refuses bytes after STOP in decodePickle', () => {
      expect(() => decodePickle(bytes('\x80\x04}.x'))).to.throw(PickleError, /1 bytes after the pickle's STOP/)
    })
  })

  describe('length fields past the limits: refused from the field, nothing allocated', () => {
    const huge: Array<[string, Buffer, 'E_TOO_LARGE' | 'E_MALFORMED', string]> = [
      ['BINBYTES8 of 2**60', bytes('\x80\x04', '\x8e', u64(2n ** 60n), 'x'), 'E_TOO_LARGE', 'BINBYTES8'],
      ['BYTEARRAY8 of 2**63', bytes('\x80\x05', '\x96', u64(2n ** 63n), 'x'), 'E_TOO_LARGE', 'BYTEARRAY8'],
      ['BINUNICODE8 of 2**62', bytes('\x80\x04', '\x8d', u64(2n ** 62n), 'x'), 'E_TOO_LARGE', 'BINUNICODE8'],
      ['BINBYTES of 4 GiB', bytes('\x80\x03B', u32(0xffff_ffff), 'x'), 'E_TOO_LARGE', 'BINBYTES'],
      ['BINUNICODE of 2 MiB', bytes('\x80\x03X', u32(2 << 20), 'x'), 'E_TOO_LARGE', 'BINUNICODE'],
      ['LONG4 of 2 GiB', bytes('\x80\x02\x8b', u32(0x7fff_ffff), 'x'), 'E_TOO_LARGE', 'LONG4'],
      ['LONG4 of negative length', bytes('\x80\x02\x8b', u32(0xffff_ffff), 'x'), 'E_MALFORMED', 'LONG4'],
      ['BINSTRING of negative length', bytes('T', u32(0x8000_0000), 'x'), 'E_MALFORMED', 'BINSTRING'],
      [
        'streamed BINBYTES8 of 2**60',
        bytes('\x80\x04}\x8c\tFILE_DATA\x8e', u64(2n ** 60n)),
        'E_TOO_LARGE',
        'BINBYTES8',
      ],
    ]
    for (const [name, data, code, opcode] of huge) {
      it(`refuses ${name}`, () => {
        refusal(data, {code, opcode})
      })
    }

    it('stays within a few MiB of buffers for 200 such refusals', () => {
      const before = process.memoryUsage()
      for (let k = 0; k < 200; k++) {
        for (const [, data] of huge) expect(() => decodePickle(data)).to.throw(PickleError)
      }

      const after = process.memoryUsage()
      expect(after.arrayBuffers - before.arrayBuffers).to.be.below(16 << 20)
      expect(after.rss - before.rss).to.be.below(64 << 20)
    })

    it('refuses a LONG text form over 4300 digits and a long INT line before its end', () => {
      refusal(bytes('L', '1'.repeat(4301), 'L\n.'), {code: 'E_TOO_LARGE', opcode: 'LONG'})
      refusal(bytes('I', '1'.repeat(5000)), {opcode: 'INT', message: /longer than/})
      refusal(bytes('c', 'a'.repeat(300)), {opcode: 'GLOBAL', message: /longer than/})
    })

    it('refuses a streamed value over maxStreamBytes: from the length field, or as it arrives', () => {
      const limits = {maxStreamBytes: 1000}
      const fileData = (n: number) => bytes('\x80\x04}\x8c\tFILE_DATAB', u32(n), Buffer.alloc(n), 's.')
      expect(() => new PickleDecoder({limits}).write(fileData(1000), [])).to.not.throw()
      const {events} = refusal(fileData(1001), {code: 'E_TOO_LARGE', limits, message: /FILE_DATA is 1001 bytes/})
      expect(events).to.deep.equal([])
      // protocol 2: the UTF-8 length field is a ceiling; the decoded size decides
      const utf8 = (n: number) =>
        bytes(
          '\x80\x02}X\t\x00\x00\x00FILE_DATAc_codecs\nencode\nX',
          u32(2 * n),
          Buffer.from('\xe9'.repeat(n), 'utf8'),
          'X\x06\x00\x00\x00latin1\x86Rs.',
        )
      expect(() => new PickleDecoder({limits}).write(utf8(1000), [])).to.not.throw()
      refusal(utf8(1001), {code: 'E_TOO_LARGE', limits})
      // protocol 0: no length field at all
      const text = (n: number) => bytes('(dp0\nVFILE_DATA\nc_codecs\nencode\n(V', 'a'.repeat(n), '\nVlatin1\ntRs.')
      expect(() => new PickleDecoder({limits}).write(text(1000), [])).to.not.throw()
      refusal(text(1001), {code: 'E_TOO_LARGE', limits, message: /FILE_DATA is 1001 bytes/})
    })

    it('refuses a held str or bytes over maxStringBytes, also in protocol 0 text', () => {
      const limits = {maxStringBytes: 100}
      refusal(bytes('C\x65', Buffer.alloc(101), '.'), {code: 'E_TOO_LARGE', limits, opcode: 'SHORT_BINBYTES'})
      refusal(bytes('V', 'a'.repeat(101), '\n.'), {code: 'E_TOO_LARGE', limits, opcode: 'UNICODE'})
      refusal(bytes('V', '\xe9'.repeat(51), '\n.'), {code: 'E_TOO_LARGE', limits, opcode: 'UNICODE'})
      refusal(bytes("S'", 'a'.repeat(101), "'\n."), {code: 'E_TOO_LARGE', limits, opcode: 'STRING'})
    })
  })

  describe('nesting', () => {
    it('refuses 10,000 MARKs', () => {
      refusal(bytes('('.repeat(10_000)), {opcode: 'MARK', message: /MARKs open/})
    })

    it('refuses lists nested deeper than maxDepth by APPEND, accepts maxDepth', () => {
      const nested = (n: number) => bytes(']'.repeat(n), 'a'.repeat(n - 1), '.')
      expect(() => decodePickle(nested(64))).to.not.throw()
      refusal(nested(65), {opcode: 'APPEND', message: /nested deeper than 64/})
      refusal(nested(10_000), {opcode: 'APPEND', message: /nested deeper than 64/})
    })

    it('refuses deep nesting through tuples, dicts and memo references', () => {
      refusal(bytes(')', '\x85'.repeat(100), '.'), {opcode: 'TUPLE1', message: /nested deeper/})
      expect(() => decodePickle(bytes('}', '(K\x01}'.repeat(40), 'u'.repeat(40), '.'))).to.not.throw()
      refusal(bytes('}', '(K\x01}'.repeat(100), 'u'.repeat(100), '.'), {opcode: 'MARK', message: /MARKs open/})
      refusal(bytes('}', 'K\x01}'.repeat(100), 's'.repeat(100), '.'), {opcode: 'SETITEM', message: /nested deeper/})
      // A 40-deep list referenced by the memo and nested 40 more times.
      const deep = bytes(']'.repeat(40), 'a'.repeat(39), '\x94', ']'.repeat(30), 'h\x00', 'a'.repeat(30), '.')
      refusal(deep, {opcode: 'APPEND', message: /nested deeper/})
    })
  })

  describe('memo', () => {
    it('refuses a list of 1,000,000 references to one 1 MiB str early, without allocating', () => {
      const text = Buffer.alloc(1 << 20, 0x61)
      const data = bytes('\x80\x04]\x94(\x8d', u64(BigInt(text.length)), text, '\x94', 'h\x01'.repeat(1_000_000), 'e.')
      const decoder = new PickleDecoder()
      const before = process.memoryUsage().arrayBuffers
      const started = Date.now()
      expect(() => decoder.write(data, []))
        .to.throw(PickleError)
        .with.property('code', 'E_TOO_LARGE')
      expect(Date.now() - started).to.be.below(2000)
      // Refused within the first few references, not after reading the million.
      expect(decoder.position).to.be.below(text.length + 100)
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(8 << 20)
    })

    it('refuses an exponential memo bomb (each list holds the previous one twice)', () => {
      const explicit = [bytes('\x80\x04]q\x00K\x01a')]
      for (let k = 1; k <= 40; k++) explicit.push(bytes('(h', [k - 1], 'h', [k - 1], 'lq', [k]))
      explicit.push(bytes('.'))
      refusal(Buffer.concat(explicit), {code: 'E_TOO_LARGE', message: /decoded pickle/})
    })

    it('bounds memo entries and values by maxItems', () => {
      const limits = {maxItems: 1000}
      const puts = [bytes('K\x01')]
      for (let k = 0; k < 1001; k++) puts.push(bytes('r', u32(k)))
      refusal(Buffer.concat(puts), {code: 'E_TOO_LARGE', limits, message: /memo/})
      refusal(bytes('(', 'N'.repeat(1001), 'l.'), {code: 'E_TOO_LARGE', limits, opcode: 'NONE'})
    })

    it('refuses cycles made through the memo', () => {
      refusal(bytes('\x80\x04]\x94h\x00a.'), {opcode: 'APPEND', message: /cycles are refused/})
      refusal(bytes('\x80\x04}\x94(\x8c\x01ah\x00u.'), {opcode: 'SETITEMS', message: /cycles are refused/})
      // L1 = [L0]; then L0.append(L1) through memo references: L0 -> L1 -> L0.
      refusal(bytes('(]q\x01]q\x00at', 'h\x00h\x01a.'), {opcode: 'APPEND', message: /cycles are refused/})
    })

    it('refuses a memo key that was never set, and PUT on an empty stack', () => {
      refusal(bytes('\x80\x04h\x05.'), {opcode: 'BINGET', message: /memo key 5 not found/})
      refusal(bytes('g3\n.'), {opcode: 'GET'})
      refusal(bytes('q\x00.'), {opcode: 'BINPUT', message: /empty stack/})
    })

    it('refuses a memo reference to a streamed value (decodePickle, which does not stream, shares it)', () => {
      const data = bytes('\x80\x03}q\x00(X\t\x00\x00\x00FILE_DATAq\x01C\x03abcq\x02X\x01\x00\x00\x00Bh\x02u.')
      refusal(data, {opcode: 'BINGET', message: /streamed value/})
      const value = decodePickle(data) as Map<string, Buffer>
      expect(value.get('B')!.toString()).to.equal('abc')
    })
  })

  describe('duplicate keys and misplaced streamed values', () => {
    it('refuses duplicate keys in every form', () => {
      refusal(bytes('\x80\x04}(\x8c\x01aK\x01\x8c\x01aK\x02u.'), {
        opcode: 'SETITEMS',
        message: /duplicate dict key 'a'/,
      })
      refusal(bytes('(dp0\nVa\nI1\nsVa\nI2\ns.'), {opcode: 'SETITEM', message: /duplicate/})
      refusal(bytes('}(K\x01K\x01K\x01K\x02u.'), {message: /duplicate dict key 1/})
      refusal(bytes('(VA\nI1\nVA\nI2\nd.'), {opcode: 'DICT', message: /duplicate/})
    })

    it('refuses a second FILE_DATA before streaming it', () => {
      const twice = bytes('\x80\x04}(\x8c\tFILE_DATAC\x01a\x8c\tFILE_DATAC\x01bu.')
      const {events} = refusal(twice, {message: /duplicate dict key 'FILE_DATA'/})
      expect(events.filter((e) => e.type === 'stream-start')).to.have.length(1)
      const afterNone = bytes('\x80\x04}(\x8c\tFILE_DATAN\x8c\tFILE_DATAC\x01bu.')
      expect(refusal(afterNone, {message: /duplicate/}).events).to.deep.equal([])
      const viaSetItem = bytes('\x80\x04}\x8c\tFILE_DATAC\x01as\x8c\tFILE_DATAC\x01bs.')
      expect(
        refusal(viaSetItem, {message: /duplicate/}).events.filter((e) => e.type === 'stream-start'),
      ).to.have.length(1)
    })

    it('refuses a streamed value that is discarded or put anywhere but its key', () => {
      refusal(bytes('\x80\x04}\x8c\tFILE_DATAC\x01a0'), {opcode: 'POP', message: /discarded/})
      refusal(bytes('\x80\x04}(\x8c\tFILE_DATAC\x01a\x85u.'), {opcode: 'SETITEMS', message: /streamed value/})
      refusal(bytes('\x80\x04}\x8c\tFILE_DATAC\x01a]\x94.'), {message: /STOP with/})
    })
  })

  describe('malformed structure', () => {
    const cases: Array<[string, Buffer, string | undefined, RegExp]> = [
      ['STOP with two values', bytes('K\x01K\x02.'), 'STOP', /STOP with 2 values/],
      ['STOP with an open MARK', bytes('(K\x01.'), 'STOP', /1 MARKs/],
      ['STOP on an empty stack', bytes('.'), 'STOP', /0 values/],
      ['APPEND on an empty stack', bytes('a'), 'APPEND', /underflow/],
      ['APPEND to a dict', bytes('}K\x01a.'), 'APPEND', /APPEND to a dict/],
      ['SETITEMS with an odd count', bytes('}(K\x01u.'), 'SETITEMS', /odd number/],
      ['TUPLE without MARK', bytes('K\x01t.'), 'TUPLE', /without a MARK/],
      ['TUPLE2 across a MARK', bytes('K\x01(K\x02\x86.'), 'TUPLE2', /underflow/],
      ['PROTO 6', bytes('\x80\x06}.'), 'PROTO', /unsupported pickle protocol 6/],
      ['PROTO not first', bytes('}\x80\x02.'), 'PROTO', /first opcode/],
      ['INT with a leading zero', bytes('I007\n.'), 'INT', /bad INT/],
      ['INT not a number', bytes('I1x\n.'), 'INT', /bad INT/],
      ['FLOAT not a number', bytes('F1e5x\n.'), 'FLOAT', /bad FLOAT/],
      ['STRING unquoted', bytes('Sabc\n.'), 'STRING', /quoted/],
      ['STRING not ASCII', bytes("S'\xe9'\n."), 'STRING', /not ASCII/],
      ['STRING bad \\x escape', bytes("S'\\x4'\n."), 'STRING', /\\x escape/],
      ['UNICODE truncated escape', bytes('V\\u12\n.'), 'UNICODE', /truncated/],
      ['UNICODE escape out of range', bytes('V\\U00110000\n.'), 'UNICODE', /out of range/],
      ['UNICODE lone surrogate', bytes('V\\ud800\n.'), 'UNICODE', /surrogate/],
      ['BINUNICODE invalid UTF-8', bytes('X\x02\x00\x00\x00\xc3(.'), 'BINUNICODE', /UTF-8/],
      ['SHORT_BINUNICODE lone surrogate', bytes('\x8c\x03\xed\xa0\x80.'), 'SHORT_BINUNICODE', /surrogate/],
      ['FRAME announcing 2**60', bytes('\x80\x04\x95', u64(2n ** 60n), '}.'), 'STOP', /FRAME/],
      ['opcode crossing a FRAME', bytes('\x80\x04\x95', u64(2n), 'J\x01\x00\x00\x00.'), 'BININT', /FRAME/],
      ['FRAME inside a FRAME', bytes('\x80\x04\x95', u64(20n), '\x95', u64(1n), '}.'), 'FRAME', /inside another FRAME/],
      ['value crossing a FRAME', bytes('\x80\x04\x95', u64(4n), 'C\x05hello.'), 'SHORT_BINBYTES', /FRAME/],
    ]
    for (const [name, data, opcode, message] of cases) {
      it(`refuses ${name}`, () => {
        refusal(data, {opcode, message})
      })
    }
  })

  describe('random corruption of golden pickles', () => {
    it('either decodes or throws a PickleError, never anything else (fast-check)', function () {
      this.timeout(120_000)
      const pool = goldenVectors().filter((v) => v.pickle.length < 5000)
      const mutated = fc
        .record({
          index: fc.integer({min: 0, max: pool.length - 1}),
          edits: fc.array(
            fc.record({
              at: fc.nat(),
              byte: fc.integer({min: 0, max: 255}),
              kind: fc.constantFrom('set', 'insert', 'cut'),
            }),
            {minLength: 1, maxLength: 4},
          ),
        })
        .map(({index, edits}) => {
          let data = Buffer.from(pool[index].pickle)
          for (const {at, byte, kind} of edits) {
            const i = at % (data.length + 1)
            if (kind === 'set' && i < data.length) data[i] = byte
            else if (kind === 'insert')
              data = Buffer.concat([data.subarray(0, i), Buffer.from([byte]), data.subarray(i)])
            else data = data.subarray(0, i)
          }

          return data
        })
      fc.assert(
        fc.property(mutated, (data) => {
          for (const streamKeys of [[], ['FILE_DATA']]) {
            try {
              const decoder = new PickleDecoder({streamKeys})
              decoder.write(data, [])
            } catch (error) {
              expect(error).to.be.instanceOf(PickleError)
              expect((error as PickleError).fatal).to.equal(true)
            }
          }
        }),
        {numRuns: 3000, seed: 11},
      )
    })
  })
})
