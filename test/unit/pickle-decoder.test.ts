import {createHash} from 'node:crypto'

import {expect} from 'chai'
import fc from 'fast-check'

import {type DecodeEvent, decodePickle, PickleDecoder} from '../../src/core/protocol/pickle-decoder.js'
import {type PickleValue, StreamedBytes} from '../../src/core/protocol/values.js'
import {type GoldenVector, goldenVectors} from '../fixtures/pickle/golden.js'
import {loadWithPython, python, typed} from '../fixtures/pickle/typed-values.js'

/** Limits that hold a 1 MiB bytes value even as the 1.5 MiB UTF-8 str of protocols 0 to 2. */
const ROOMY = {maxStringBytes: 4 << 20, maxTotalBytes: 64 << 20}

/** Builds a pickle from latin-1 text and byte arrays. */
function bytes(...parts: Array<string | number[] | Buffer>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))))
}

interface Decoded {
  value: PickleValue
  streams: Map<string, Buffer>
  events: DecodeEvent[]
}

/** Feeds the chunks in order and checks the stream events are well formed. */
function decodeChunks(chunks: readonly Buffer[], streamKeys?: readonly string[]): Decoded {
  const decoder = new PickleDecoder({streamKeys})
  const events: DecodeEvent[] = []
  let consumed = 0
  for (const chunk of chunks) consumed += decoder.write(chunk, events)
  expect(decoder.done, 'done after the last chunk').to.equal(true)
  expect(consumed).to.equal(chunks.reduce((n, c) => n + c.length, 0))
  expect(decoder.position).to.equal(consumed)
  const streams = new Map<string, Buffer>()
  let open: {key: string; maxLength: number; parts: Buffer[]} | undefined
  for (const event of events) {
    if (event.type === 'stream-start') {
      expect(open, 'stream-start inside a stream').to.equal(undefined)
      open = {key: event.key, maxLength: event.maxLength, parts: []}
    } else if (event.type === 'stream-data') {
      expect(open, 'stream-data outside a stream').to.not.equal(undefined)
      expect(event.chunk.length).to.be.greaterThan(0)
      open!.parts.push(Buffer.from(event.chunk))
    } else {
      const data = Buffer.concat(open!.parts)
      expect(event.length).to.equal(data.length)
      expect(data.length).to.be.at.most(open!.maxLength)
      streams.set(open!.key, data)
      open = undefined
    }
  }

  expect(open, 'a stream left open').to.equal(undefined)
  return {value: decoder.value, streams, events}
}

/** The value with each StreamedBytes replaced by the bytes that went to the sink. */
function materialize({value, streams}: Decoded): PickleValue {
  if (!(value instanceof Map)) return value
  const out = new Map(value)
  for (const [key, item] of value) {
    if (!(item instanceof StreamedBytes)) continue
    expect(item.key).to.equal(key)
    expect(item.length).to.equal(streams.get(item.key)!.length)
    out.set(key, streams.get(item.key)!)
  }

  return out
}

function split(data: Buffer, points: readonly number[]): Buffer[] {
  const chunks: Buffer[] = []
  let start = 0
  for (const point of [...points, data.length]) {
    chunks.push(data.subarray(start, point))
    start = point
  }

  return chunks
}

function label(v: GoldenVector): string {
  return `${v.name} at protocol ${v.protocol}`
}

describe('pickle-decoder', () => {
  let vectors: GoldenVector[]

  before(function () {
    this.timeout(120_000)
    vectors = goldenVectors()
  })

  describe('golden vectors from CPython at protocols 0 to 5', () => {
    it('covers every case at every protocol', () => {
      const names = new Set(vectors.map((v) => v.name))
      expect(names.size).to.be.at.least(20)
      expect(vectors.length).to.equal(names.size * 6)
    })

    it('decodePickle gives the same values and types as CPython', () => {
      for (const v of vectors) {
        expect(typed(decodePickle(v.pickle, {limits: ROOMY})), label(v)).to.deep.equal(v.typed)
      }
    })

    it('decodePickle with default limits decodes everything but a 1 MiB bytes written as a str', () => {
      for (const v of vectors) {
        if (v.name === '1 MiB FILE_DATA' && v.protocol < 3) continue
        expect(typed(decodePickle(v.pickle)), label(v)).to.deep.equal(v.typed)
      }
    })

    it('streams the top-level FILE_DATA (bytes and bytearray) and nothing else, at every protocol', () => {
      let streamed = 0
      for (const v of vectors) {
        const decoded = decodeChunks([v.pickle])
        expect(typed(materialize(decoded)), label(v)).to.deep.equal(v.typed)
        const top = decoded.value instanceof Map ? decoded.value : undefined
        const fileData = top?.get('FILE_DATA')
        if (fileData instanceof StreamedBytes) streamed++
        // bytes() and bytearray() without an argument (empty, protocols 0 to 4) carry nothing to stream.
        else if (Buffer.isBuffer(fileData)) expect(fileData.length, label(v)).to.equal(0)
        if (v.name === 'bytes outside FILE_DATA') {
          const nested = top!.get('NESTED') as Map<string, PickleValue>
          expect(Buffer.isBuffer(nested.get('FILE_DATA'))).to.equal(true)
          expect(Buffer.isBuffer(top!.get('OTHER'))).to.equal(true)
        }
      }

      // seed, FILE_DATA first, unicode, 1 MiB, bytearray, memo-shared, many keys, large: 8 cases x 6,
      // plus empty bytes at protocols 3-5 and empty bytearray at protocol 5.
      expect(streamed).to.equal(8 * 6 + 3 + 1)
    })

    it('streams nothing when streamKeys is empty', () => {
      for (const v of vectors.filter((x) => x.name === 'seed example')) {
        const decoded = decodeChunks([v.pickle], [])
        expect(decoded.events).to.deep.equal([])
        expect(typed(decoded.value)).to.deep.equal(v.typed)
      }
    })

    it('streams a 1 MiB FILE_DATA with default limits in pieces no larger than the input chunks', () => {
      for (const v of vectors.filter((x) => x.name === '1 MiB FILE_DATA')) {
        const chunks = split(
          v.pickle,
          Array.from({length: Math.floor((v.pickle.length - 1) / 65_536)}, (_, k) => (k + 1) * 65_536),
        )
        const decoded = decodeChunks(chunks)
        const data = decoded.streams.get('FILE_DATA')!
        const dataEvents = decoded.events.filter((e) => e.type === 'stream-data')
        expect(dataEvents.length, label(v)).to.be.greaterThan(15)
        for (const e of dataEvents) expect(e.chunk.length).to.be.at.most(65_536)
        const expected = Buffer.from((v.typed[1] as Array<[unknown, [string, string]]>)[4][1][1], 'hex')
        expect(createHash('sha256').update(data).digest('hex'), label(v)).to.equal(
          createHash('sha256').update(expected).digest('hex'),
        )
      }
    })
  })

  describe('any split of the input', () => {
    it('every cut into two chunks gives the same value and streamed bytes (pickles up to 3 KB)', function () {
      this.timeout(120_000)
      let cases = 0
      for (const v of vectors.filter((x) => x.pickle.length <= 3000)) {
        for (let cut = 1; cut < v.pickle.length; cut++) {
          const decoded = decodeChunks([v.pickle.subarray(0, cut), v.pickle.subarray(cut)])
          expect(typed(materialize(decoded)), `${label(v)} cut at ${cut}`).to.deep.equal(v.typed)
          cases++
        }
      }

      expect(cases).to.be.greaterThan(10_000)
    })

    it('byte by byte gives the same value (pickles up to 200 KB)', function () {
      this.timeout(120_000)
      for (const v of vectors.filter((x) => x.pickle.length <= 200_000)) {
        const chunks = Array.from({length: v.pickle.length}, (_, k) => v.pickle.subarray(k, k + 1))
        expect(typed(materialize(decodeChunks(chunks))), label(v)).to.deep.equal(v.typed)
      }
    })

    it('random multi-chunk splits give the same value and streamed bytes (fast-check)', function () {
      this.timeout(300_000)
      const small = vectors.filter((v) => v.pickle.length <= 200_000)
      const large = vectors.filter((v) => v.pickle.length > 200_000)
      const property = (pool: GoldenVector[]) =>
        fc.property(
          fc
            .integer({min: 0, max: pool.length - 1})
            .chain((index) =>
              fc
                .uniqueArray(fc.integer({min: 1, max: pool[index].pickle.length - 1}), {maxLength: 60})
                .map((points) => ({v: pool[index], points: points.sort((a, b) => a - b)})),
            ),
          ({v, points}) => {
            expect(typed(materialize(decodeChunks(split(v.pickle, points)))), label(v)).to.deep.equal(v.typed)
          },
        )
      fc.assert(property(small), {numRuns: 400, seed: 2})
      fc.assert(property(large), {numRuns: 12, seed: 3})
    })
  })

  describe('forms CPython 3 reads but does not write (checked against CPython)', () => {
    const forms: Array<[string, Buffer]> = [
      ['INT booleans and plain ints', bytes('(I01\nI00\nI0\nI-7\nI2147483647\nl.')],
      ['LONG with and without L', bytes('(L123L\nL-99999999999999999999L\nL5\nl.')],
      ['FLOAT spellings', bytes('(Finf\nF-inf\nFnan\nFinfinity\nF1e+100\nF-0.0\nF.5\nF2.\nF1E5\nl.')],
      ['STRING with escapes', bytes(`(S'a\\'b\\x41\\101\\n\\t\\\\ "q"'\nS"dq'"\nl.`)],
      ['BINSTRING and SHORT_BINSTRING', bytes('(U\x03abcT\x02\x00\x00\x00xyl.')],
      ['UNICODE with escapes', bytes('(V\\u0041\\U0001f600\\x\\\\u0041 \xe9\xff\\\nl.')],
      ['POP and POP_MARK', bytes('(K\x01K\x020(K\x031K\x04l.')],
      ['POP of an empty mark pops the mark', bytes('((0K\x05l.')],
      ['DICT from MARK', bytes('(X\x01\x00\x00\x00aK\x01X\x01\x00\x00\x00bK\x02d.')],
      ['LIST and TUPLE from MARK, TUPLE1-3', bytes('((K\x01K\x02t(K\x03lK\x04\x85K\x05K\x06\x86K\x07K\x08K\t\x87l.')],
      [
        'text GLOBAL __builtin__.bytes and builtins.bytes',
        bytes('(c__builtin__\nbytes\n)Rcbuiltins\nbytes\nC\x02hi\x85Rl.'),
      ],
      ['text PUT and GET', bytes('(Vx\np7\ng7\nl.')],
      ['LONG_BINPUT and LONG_BINGET', bytes('(K\x09r\x05\x00\x00\x00j\x05\x00\x00\x00l.')],
      ['LONG1 and LONG4', bytes('(\x8a\x00\x8a\x01\xff\x8a\x02\x00\x80\x8b\x03\x00\x00\x00\x01\x00\x01l.')],
      ['BINFLOAT', bytes('G\x40\x09\x21\xfb\x54\x44\x2d\x18.')],
      [
        'BINBYTES8 and BINUNICODE8',
        bytes('(\x8e\x02\x00\x00\x00\x00\x00\x00\x00ab\x8d\x02\x00\x00\x00\x00\x00\x00\x00\xc3\xa9l.'),
      ],
      ['a FRAME around the whole pickle', bytes('\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x07.')],
      ['an empty FRAME', bytes('\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00K\x07.')],
    ]

    it('decodes each to the value CPython loads, whole and byte by byte', () => {
      const expected = loadWithPython(forms.map(([, data]) => data))
      for (const [k, [name, data]] of forms.entries()) {
        expect(expected[k][0], `CPython loads ${name}`).to.not.equal('other')
        expect(typed(decodePickle(data)), name).to.deep.equal(expected[k])
        const chunks = Array.from({length: data.length}, (_, i) => data.subarray(i, i + 1))
        expect(typed(decodeChunks(chunks, []).value), name).to.deep.equal(expected[k])
      }
    })
  })

  describe('streaming details', () => {
    const fileData = Buffer.from('89504e470d0a1a0a00ff5c0a', 'hex')

    it('streams a protocol 0 line whose bare backslashes straddle chunk ends (found by the fuzzer)', () => {
      // raw-unicode-escape: a backslash not followed by u or U stands for itself. When it ends one chunk it
      // comes out with the next chunk's first byte: two output bytes for one input byte.
      const pickle = Buffer.from('(dVFILE_DATA\nc_codecs\nencode\n(V\\a\\b\\\nVlatin1\ntRs.', 'latin1')
      const whole = decodeChunks([pickle]).streams.get('FILE_DATA')!
      expect(whole.toString('latin1')).to.equal('\\a\\b\\')
      const bytewise = decodeChunks([...pickle].map((byte) => Buffer.from([byte]))).streams.get('FILE_DATA')!
      expect(bytewise.equals(whole)).to.equal(true)
    })

    it('streams whatever the key order and the protocol, also for a second stream key', () => {
      for (const v of vectors.filter((x) => x.name === 'FILE_DATA first' || x.name === 'seed example')) {
        const decoded = decodeChunks([v.pickle], ['FILE_DATA', 'OTHER'])
        expect(decoded.value).to.be.instanceOf(Map)
        expect((decoded.value as Map<string, PickleValue>).get('FILE_DATA')).to.be.instanceOf(StreamedBytes)
      }

      const two = vectors.find((x) => x.name === 'bytes outside FILE_DATA' && x.protocol === 4)!
      const decoded = decodeChunks([two.pickle], ['FILE_DATA', 'OTHER'])
      expect([...decoded.streams.keys()]).to.deep.equal(['OTHER'])
      expect(decoded.streams.get('OTHER')!.equals(Buffer.from('00ff5c0a', 'hex'))).to.equal(true)
    })

    it('announces the length field as maxLength and ends with the decoded length', () => {
      // protocol 3: BINBYTES of 12 bytes under FILE_DATA
      const data = bytes('\x80\x03}q\x00X\t\x00\x00\x00FILE_DATAq\x01C\x0c', fileData, 'q\x02s.')
      const {events} = decodeChunks([data])
      expect(events[0]).to.deep.equal({type: 'stream-start', key: 'FILE_DATA', maxLength: 12, head: new Map()})
      expect(events.at(-1)).to.deep.equal({type: 'stream-end', length: 12})
    })

    it('transcodes the latin-1 str of protocols 0 to 2 to the original bytes', () => {
      // protocol 2: FILE_DATA = _codecs.encode('\xe9\xff', 'latin1'), the str as UTF-8
      const data = bytes(
        '\x80\x02}q\x00X\t\x00\x00\x00FILE_DATAq\x01c_codecs\nencode\nq\x02X\x04\x00\x00\x00\xc3\xa9\xc3\xbfq\x03',
        'X\x06\x00\x00\x00latin1q\x04\x86q\x05Rq\x06s.',
      )
      for (let cut = 1; cut < data.length; cut++) {
        const decoded = decodeChunks([data.subarray(0, cut), data.subarray(cut)])
        expect(decoded.streams.get('FILE_DATA')!.toString('hex')).to.equal('e9ff')
        expect(decoded.events[0]).to.deep.equal({type: 'stream-start', key: 'FILE_DATA', maxLength: 4, head: new Map()})
      }
    })

    it('streams a zero-length value at once, before the next byte arrives', () => {
      const decoder = new PickleDecoder()
      const events: DecodeEvent[] = []
      decoder.write(bytes('\x80\x03}X\t\x00\x00\x00FILE_DATAC\x00'), events)
      expect(events).to.deep.equal([
        {type: 'stream-start', key: 'FILE_DATA', maxLength: 0, head: new Map()},
        {type: 'stream-end', length: 0},
      ])
      decoder.write(bytes('s.'), events)
      expect((decoder.value as Map<string, PickleValue>).get('FILE_DATA')).to.deep.equal(
        new StreamedBytes('FILE_DATA', 0),
      )
    })

    it('hands the keys decoded before a streamed value to stream-start, as CPython writes a seed request', () => {
      const pickles = python(
        'import pickle,sys\n' +
          "m={'COMMAND':'PUT','STATUS':'REQUEST','DETAILS':None,'FILENAME':'cat.png','VERSION':1,'FILE_DATA':b'x'*70000}\n" +
          'for p in range(6): d=pickle.dumps(m,protocol=p); sys.stdout.buffer.write(len(d).to_bytes(4,"big")+d)\n',
      )
      for (let at = 0, protocol = 0; at < pickles.length; protocol++) {
        const length = pickles.readUInt32BE(at)
        const {events} = decodeChunks([pickles.subarray(at + 4, at + 4 + length)])
        at += 4 + length
        const start = events.find((e) => e.type === 'stream-start')
        expect(start, `protocol ${protocol}`).to.not.equal(undefined)
        const head = start!.type === 'stream-start' ? start!.head : new Map()
        expect(Object.fromEntries(head), `protocol ${protocol}`).to.deep.equal({
          COMMAND: 'PUT',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: 'cat.png',
          VERSION: 1n,
        })
      }
    })

    it('hands out stream-data as the bytes arrive, not at the end', () => {
      const decoder = new PickleDecoder()
      const events: DecodeEvent[] = []
      decoder.write(bytes('\x80\x03}X\t\x00\x00\x00FILE_DATAB\x00\x00\x10\x00', 'abc'), events)
      expect(events.map((e) => e.type)).to.deep.equal(['stream-start', 'stream-data'])
      expect(decoder.done).to.equal(false)
    })

    it('does not stream a FILE_DATA str, a nested FILE_DATA or a FILE_DATA under a list', () => {
      const cases = [
        bytes('\x80\x04}(\x8c\tFILE_DATA\x8c\x03abcu.'),
        bytes('\x80\x04}(\x8c\x01X}(\x8c\tFILE_DATAC\x01au\x8c\x01Y]C\x01bau.'),
        bytes('\x80\x04}(\x8c\tFILE_DATA](C\x01beu.'),
      ]
      for (const data of cases) expect(decodeChunks([data]).events).to.deep.equal([])
    })

    it("after a dict value, holds a small FILE_DATA (it may be that dict's) and streams a large one", () => {
      const pickles = python(String.raw`
import base64, pickle
for d in [{'X': {'a': 1}, 'FILE_DATA': b'small'}, {'X': {'a': 1}, 'FILE_DATA': b'x' * (2 << 20)},
          {'FILE_DATA': None, 'NESTED': {'FILE_DATA': b'nested'}}, {'X': {}, 'FILE_DATA': b'after empty'}]:
    for p in (1, 4, 5):
        print(base64.b64encode(pickle.dumps(d, protocol=p)).decode())
`)
        .toString()
        .trim()
        .split('\n')
        .map((line) => Buffer.from(line, 'base64'))
      const kinds = pickles.map((data) => {
        const decoded = decodeChunks([data])
        const top = decoded.value as Map<string, PickleValue>
        const value = top.get('FILE_DATA')
        if (value instanceof StreamedBytes) return `streamed ${value.length}`
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- only None is expected here; anything else just has to differ
        return Buffer.isBuffer(value) ? `held ${value.toString()}` : String(value)
      })
      expect(kinds).to.deep.equal([
        ...Array.from({length: 3}, () => 'held small'),
        ...Array.from({length: 3}, () => `streamed ${2 << 20}`),
        ...Array.from({length: 3}, () => 'null'),
        ...Array.from({length: 3}, () => 'held after empty'),
      ])
    })

    it('returns after STOP and leaves the rest of the chunk', () => {
      const decoder = new PickleDecoder()
      const used = decoder.write(bytes('\x80\x04}.trailing'), [])
      expect(used).to.equal(4)
      expect(decoder.done).to.equal(true)
      expect(decoder.write(bytes('more'), [])).to.equal(0)
    })
  })
})
