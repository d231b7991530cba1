import {expect} from 'chai'
import fc from 'fast-check'

import {Op} from '../../src/core/protocol/opcodes.js'
import {encodeLong, encodePickle, type PickleProtocol} from '../../src/core/protocol/pickle-encoder.js'
import {PickleTuple, type PickleValue, StreamedBytes} from '../../src/core/protocol/values.js'
import {loadWithPython, pickleDict, python, type Typed, typed} from '../fixtures/pickle/typed-values.js'

const PROTOCOLS: PickleProtocol[] = [2, 3, 4, 5]

const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')

/** Representative values, each one of the subset, named for the failure message. */
const CASES: Array<[string, PickleValue]> = [
  [
    'seed example',
    new Map<string, PickleValue>([
      ['COMMAND', 'PUT'],
      ['STATUS', 'REQUEST'],
      ['DETAILS', null],
      ['FILENAME', 'image.png'],
      ['FILE_DATA', png],
    ]),
  ],
  ['unicode name', new Map([['FILENAME', 'Ünïcødé 猫 🐱.png']])],
  [
    'empty bytes and empty str',
    new Map<string, PickleValue>([
      ['FILE_DATA', Buffer.alloc(0)],
      ['DETAILS', ''],
    ]),
  ],
  ['DETAILS list', new Map([['DETAILS', ['a.png', 'b.jpg', 'ç.jpeg']]])],
  ['all byte values', new Map([['FILE_DATA', Buffer.from(Array.from({length: 256}, (_, i) => i))]])],
  ['1 MiB FILE_DATA', new Map([['FILE_DATA', Buffer.alloc(1 << 20, 0xa7)]])],
  [
    'int boundaries',
    new Map(
      [
        0n,
        1n,
        255n,
        256n,
        65535n,
        65536n,
        -1n,
        -128n,
        -129n,
        -256n,
        -(2n ** 31n),
        2n ** 31n - 1n,
        2n ** 31n,
        -(2n ** 31n) - 1n,
        2n ** 63n,
        -(2n ** 63n),
        2n ** 64n,
        10n ** 700n,
        -(10n ** 700n),
        2n ** 2047n - 1n,
        -(2n ** 2047n),
      ].map((n, i) => [`i${i}`, n] as [string, PickleValue]),
    ),
  ],
  [
    'floats are floats even when integral',
    new Map<string, PickleValue>([
      ['a', 3],
      ['b', -0],
      ['c', 1.5e300],
      ['d', Infinity],
      ['e', -Infinity],
    ]),
  ],
  [
    'bools are not ints',
    new Map<string, PickleValue>([
      ['t', true],
      ['f', false],
      ['one', 1n],
      ['zero', 0n],
    ]),
  ],
  [
    'tuples of each size',
    new Map(
      [0, 1, 2, 3, 4, 5].map(
        (n) => [`t${n}`, new PickleTuple(Array.from({length: n}, (_, i) => BigInt(i)))] as [string, PickleValue],
      ),
    ),
  ],
  [
    'nested',
    new Map<string, PickleValue>([['x', [new Map<bigint, PickleValue>([[1n, [new PickleTuple([null])]]]), []]]]),
  ],
  ['1001 list items (two APPENDS batches)', new Map([['l', Array.from({length: 1001}, (_, i) => BigInt(i))]])],
  [
    '1001 dict items (two SETITEMS batches)',
    new Map(Array.from({length: 1001}, (_, i) => [`k${i}`, BigInt(i)] as [string, PickleValue])),
  ],
  [
    'one-item list and dict',
    new Map<string, PickleValue>([
      ['l', ['x']],
      ['d', new Map([['k', 'v']])],
    ]),
  ],
  [
    'str of 255, 256 and 70000 UTF-8 bytes',
    new Map([
      ['a', 'x'.repeat(255)],
      ['b', 'é'.repeat(128)],
      ['c', '猫'.repeat(23_334)],
    ]),
  ],
  [
    'bytes of 255 and 256',
    new Map([
      ['a', Buffer.alloc(255, 1)],
      ['b', Buffer.alloc(256, 2)],
    ]),
  ],
]

describe('pickle-encoder', () => {
  describe('CPython loads our output to equal values of the same types', () => {
    // One python3 for the whole describe: starting it costs more than loading every pickle below.
    const plainObject = {COMMAND: 'LIST', VERSION: 1n, ratio: 1, nested: {a: [1n, 1]}}
    const randomValues = fc.sample(pickleDict, {numRuns: 300, seed: 20_240_601})
    let loaded: Typed[] = []
    let pickles: Buffer[] = []

    before(() => {
      pickles = [
        ...PROTOCOLS.flatMap((protocol) => CASES.map(([, value]) => encodePickle(value, {protocol}))),
        ...PROTOCOLS.flatMap((protocol) => randomValues.map((value) => encodePickle(value, {protocol}))),
        encodePickle(plainObject),
      ]
      loaded = loadWithPython(pickles)
      expect(loaded).to.have.length(pickles.length)
    })

    for (const [p, protocol] of PROTOCOLS.entries()) {
      it(`at protocol ${protocol}`, () => {
        for (const [index, [name, value]] of CASES.entries()) {
          expect(loaded[p * CASES.length + index], name).to.deep.equal(typed(value))
        }
      })
    }

    it('for 300 random dicts at every protocol', () => {
      const start = PROTOCOLS.length * CASES.length
      for (const [index, value] of Array.from({length: PROTOCOLS.length}, () => randomValues)
        .flat()
        .entries()) {
        const where = `protocol ${pickles[start + index][1]} value ${index % randomValues.length}`
        expect(loaded[start + index], where).to.deep.equal(typed(value))
      }
    })

    it('reads a plain object as a dict of its own keys, a JS number as a float', () => {
      expect(loaded.at(-1)).to.deep.equal([
        'dict',
        [
          [
            ['str', 'COMMAND'],
            ['str', 'LIST'],
          ],
          [
            ['str', 'VERSION'],
            ['int', '1'],
          ],
          [
            ['str', 'ratio'],
            ['float', '3ff0000000000000'],
          ],
          [
            ['str', 'nested'],
            [
              'dict',
              [
                [
                  ['str', 'a'],
                  [
                    'list',
                    [
                      ['int', '1'],
                      ['float', '3ff0000000000000'],
                    ],
                  ],
                ],
              ],
            ],
          ],
        ],
      ])
    })
  })

  describe('writes the opcodes CPython writes', () => {
    // CPython's own pickle, stripped of memo (pickletools.optimize) and of FRAME, must equal ours byte
    // for byte. Values here repeat no str, since CPython memoizes a str object seen twice.
    const script = String.raw`
import base64, pickle, pickletools, sys
for line in sys.stdin:
    ours = base64.b64decode(line)
    proto = ours[1]
    ref = pickletools.optimize(pickle.dumps(pickle.loads(ours), protocol=proto))
    # Rebuild without FRAME opcodes (9 bytes each at protocol 4+).
    kept = bytearray()
    ops = list(pickletools.genops(ref)) + [(None, None, len(ref))]
    for (op, arg, pos), (_, _, nxt) in zip(ops, ops[1:]):
        if op.name != 'FRAME':
            kept += ref[pos:nxt]
    print('same' if bytes(kept) == ours else 'ours ' + ours.hex() + ' cpython ' + bytes(kept).hex())
`
    const distinct: Array<[string, PickleValue]> = CASES.filter(([name]) =>
      [
        'seed example',
        'unicode name',
        'all byte values',
        'int boundaries',
        'tuples of each size',
        'bytes of 255 and 256',
      ].includes(name),
    )
    distinct.push(['empty bytes', new Map([['FILE_DATA', Buffer.alloc(0)]])])
    // At protocol 2 CPython memoizes the _codecs.encode global and 'latin1' for a second bytes value.
    const casesAt = (protocol: PickleProtocol) =>
      protocol === 2 ? distinct.filter(([name]) => name !== 'bytes of 255 and 256') : distinct
    let lines: string[] = []

    before(() => {
      const input = PROTOCOLS.flatMap((protocol) =>
        casesAt(protocol).map(([, value]) => encodePickle(value, {protocol}).toString('base64')),
      )
      lines = python(script, input.join('\n') + '\n')
        .toString()
        .trim()
        .split('\n')
      expect(lines).to.have.length(input.length)
    })

    let offset = 0
    for (const protocol of PROTOCOLS) {
      const first = offset
      offset += casesAt(protocol).length
      it(`at protocol ${protocol}`, () => {
        for (const [index, [name]] of casesAt(protocol).entries()) expect(lines[first + index], name).to.equal('same')
      })
    }
  })

  describe('opcode choices', () => {
    it('starts with PROTO 4 by default and ends with STOP', () => {
      const out = encodePickle(new Map())
      expect([...out]).to.deep.equal([Op.PROTO, 4, Op.EMPTY_DICT, Op.STOP])
    })

    it('writes bytes at protocol 2 as _codecs.encode(str, "latin1") and empty bytes as __builtin__.bytes()', () => {
      const out = encodePickle([Buffer.from([0xff]), Buffer.alloc(0)], {protocol: 2}).toString('latin1')
      expect(out).to.contain('c_codecs\nencode\n')
      expect(out).to.contain('c__builtin__\nbytes\n)R')
    })

    it('uses SHORT_BINUNICODE only from protocol 4', () => {
      expect(encodePickle('a', {protocol: 3})[2]).to.equal(Op.BINUNICODE)
      expect(encodePickle('a', {protocol: 4})[2]).to.equal(Op.SHORT_BINUNICODE)
      expect(encodePickle('a'.repeat(256), {protocol: 4})[2]).to.equal(Op.BINUNICODE)
    })

    it('encodes longs as CPython encode_long does', () => {
      const script = 'import pickle,sys\nfor l in sys.stdin: print(pickle.encode_long(int(l)).hex())'
      const numbers = [
        0n,
        1n,
        -1n,
        127n,
        128n,
        255n,
        256n,
        -128n,
        -129n,
        -256n,
        -257n,
        2n ** 64n,
        -(2n ** 64n),
        10n ** 300n,
      ]
      const expected = python(script, numbers.join('\n') + '\n')
        .toString()
        .replace(/\n$/, '')
        .split('\n')
      expect(numbers.map((n) => encodeLong(n).toString('hex'))).to.deep.equal(expected)
    })
  })

  describe('refusals', () => {
    it('refuses protocols outside 2 to 5', () => {
      for (const protocol of [0, 1, 6]) {
        expect(() => encodePickle(null, {protocol: protocol as PickleProtocol})).to.throw(
          RangeError,
          /protocol must be 2, 3, 4 or 5/,
        )
      }
    })

    it('refuses values outside the subset', () => {
      expect(() => encodePickle({a: undefined} as unknown as Record<string, PickleValue>)).to.throw(
        TypeError,
        /undefined/,
      )
      expect(() => encodePickle(new Set() as unknown as PickleValue)).to.throw(TypeError, /Set/)
      expect(() => encodePickle(new StreamedBytes('FILE_DATA', 3))).to.throw(TypeError, /sink/)
      expect(() => encodePickle(new Map([[true, 1n]]) as unknown as PickleValue)).to.throw(TypeError, /key/)
    })

    it('refuses a str with a lone surrogate rather than changing it', () => {
      expect(() => encodePickle('a\uD800b')).to.throw(RangeError, /surrogate/)
      expect(() => encodePickle('\uDC00')).to.throw(RangeError, /surrogate/)
      expect(encodePickle('\uD83D\uDE00').length).to.be.greaterThan(0)
    })

    it('refuses a cycle instead of overflowing the stack', () => {
      const list: PickleValue[] = []
      list.push(list)
      expect(() => encodePickle(list)).to.throw(RangeError, /cycle/)
    })
  })
})
