import {expect} from 'chai'
import v8 from 'node:v8'
import vm from 'node:vm'

import {DecodeBudget} from '../../src/core/protocol/decode-budget.js'
import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {MessageReader, type ReaderEvent} from '../../src/core/protocol/message-reader.js'
import {
  DEFAULT_PICKLE_LIMITS,
  PickleDecoder,
  PickleError,
  type PickleLimits,
} from '../../src/core/protocol/pickle-decoder.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const MiB = 1024 * 1024
const CHUNK = 64 * 1024

/**
 * `unit` repeated `count` times, in socket-sized chunks, never held whole.
 * @yields {Buffer} the next chunk
 */
function* repeated(unit: Buffer, count: number): Generator<Buffer> {
  const perChunk = Math.max(1, Math.floor(CHUNK / unit.length))
  const chunk = Buffer.concat(Array.from({length: perChunk}, () => unit))
  for (let left = count; left > 0; left -= perChunk)
    yield left >= perChunk ? chunk : chunk.subarray(0, left * unit.length)
}

/** The instances of issue 18 (items 1 and 2), as the hostile peer sent them: no STOP, held open. */
const INSTANCES: Record<string, () => Generator<Buffer>> = {
  // PROTO 4, the top-level dict, then (EMPTY_DICT, MEMOIZE) x 999,000: 2 MB.
  *memo() {
    yield Buffer.from([0x80, 4, 0x7d])
    yield* repeated(Buffer.from([0x7d, 0x94]), 999_000)
  },
  // Protocol 0: a MARK, then 120,000 INT lines of 4,300 digits (516 MB).
  *ints() {
    yield Buffer.from('(')
    yield* repeated(Buffer.from(`I${'7'.repeat(4300)}\n`), 120_000)
  },
  // 1.8 MB of a dict as CPython writes it: small memoized str keys, None values, SETITEMS per 1,000.
  *keys() {
    yield Buffer.from([0x80, 4, 0x7d, 0x94, 0x28])
    for (let k = 0; k < 180_000; k += 1000) {
      const pairs = Array.from({length: 1000}, (_, j) =>
        Buffer.from([0x8c, 6, ...Buffer.from((k + j).toString(16).padStart(6, '0')), 0x94, 0x4e]),
      )
      yield Buffer.concat([...pairs, Buffer.from('u(')])
    }
  },
  // One 1 MB frame body of EMPTY_LIST.
  *lists() {
    yield* repeated(Buffer.from(']'), 1024 * 1024)
  },
}

interface Fed {
  error?: PickleError
  fed: number
  heldBytes: number
  charged: number
}

/** Two full GCs: the second also frees the Buffers' memory the first one found unreachable. */
function settle(): void {
  gc()
  gc()
}

/** Feeds pieces until a refusal; measures the heap the decoder holds then (after a full GC). */
function feed(pieces: Iterable<Buffer>, limits?: Partial<PickleLimits>, budget?: DecodeBudget): Fed {
  settle()
  const before = process.memoryUsage()
  const decoder = new PickleDecoder({limits, budget})
  let error: PickleError | undefined
  for (const piece of pieces) {
    try {
      decoder.write(piece, [])
    } catch (error_) {
      error = error_ as PickleError
      break
    }
  }

  settle()
  const after = process.memoryUsage()
  const heldBytes = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers
  return {error, fed: decoder.position, heldBytes, charged: decoder.chargedBytes}
}

describe('pickle cost: memory and CPU charged at their measured cost', function () {
  this.timeout(120_000)

  describe('the charge covers what the heap really holds', () => {
    const roomy = {maxTotalBytes: 1024 * MiB, maxItems: 10_000_000}
    const n = 20_000
    const shapes: Array<[string, () => Iterable<Buffer>]> = [
      ['empty dicts', () => [Buffer.from('('), ...repeated(Buffer.from('}'), n)]],
      ['empty lists', () => [Buffer.from('('), ...repeated(Buffer.from(']'), n)]],
      ['empty tuples', () => [Buffer.from('('), ...repeated(Buffer.from(')'), n)]],
      ['memo entries', () => [Buffer.from('\x80\x04(', 'latin1'), ...repeated(Buffer.from('N\x94', 'latin1'), n)]],
      [
        'dict entries',
        () => [Buffer.from('}('), ...repeated(Buffer.from('J\x00\x00\x00\x00N', 'latin1'), 1), ...keys(n)],
      ],
      ['list items', () => [Buffer.from(']('), ...repeated(Buffer.from('N'), n), Buffer.from('e')]],
      ['small str', () => [Buffer.from('('), ...strs(n)]],
      ['str beyond latin-1 (UTF-16)', () => [Buffer.from('('), ...repeated(wide(), 2000)]],
      [
        'protocol 0 text lines',
        () => [Buffer.from('('), ...repeated(Buffer.from(`V${'a'.repeat(1000)}\\u0101\n`), 2000)],
      ],
      ['small bytes', () => [Buffer.from('('), ...repeated(Buffer.from('C\x06abcdef'), n)]],
      ['floats', () => [Buffer.from('('), ...repeated(Buffer.from('G\x3f\xf8\x00\x00\x00\x00\x00\x00', 'latin1'), n)]],
      ['ints of 100 digits', () => [Buffer.from('('), ...repeated(Buffer.from(`I${'9'.repeat(100)}\n`), n)]],
      ['ints of 4300 digits', () => [Buffer.from('('), ...repeated(Buffer.from(`I${'9'.repeat(4300)}\n`), 2000)]],
    ]
    for (const [name, pieces] of shapes) {
      it(`${name}: charged at least the heap held, and at most 3 times it`, () => {
        const {error, heldBytes, charged} = feed(pieces(), {...roomy, maxWork: Number.MAX_SAFE_INTEGER})
        expect(error, error?.message).to.equal(undefined)
        expect(heldBytes, `held ${heldBytes}, charged ${charged}`).to.be.at.most(charged)
        expect(charged).to.be.at.most(3 * heldBytes + 64 * 1024)
      })
    }

    /** BINUNICODE of 1000 ASCII characters and one beyond latin-1: V8 stores it as two bytes a character. */
    function wide(): Buffer {
      const text = Buffer.from(`${'a'.repeat(1000)}\u0101`)
      return Buffer.concat([Buffer.from([0x58, ...u32(text.length)]), text])
    }

    function* keys(count: number): Generator<Buffer> {
      for (let k = 0; k < count; k += 1000)
        yield Buffer.concat([
          ...Array.from({length: 1000}, (_, j) => Buffer.from([0x4a, ...u32(k + j + 1), 0x4e])),
          Buffer.from('u('),
        ])
    }

    function* strs(count: number): Generator<Buffer> {
      for (let k = 0; k < count; k += 1000)
        yield Buffer.concat(
          Array.from({length: 1000}, (_, j) =>
            Buffer.from([0x8c, 6, ...Buffer.from((k + j).toString(16).padStart(6, '0'))]),
          ),
        )
    }

    function u32(value: number): number[] {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(value)
      return [...b]
    }
  })

  describe("issue 18's instances are refused long before the per-request bound", () => {
    const bound = DEFAULT_PICKLE_LIMITS.maxTotalBytes
    const cases: Array<[string, number, RegExp]> = [
      ['memo', 128 * 1024, /decoded pickle/],
      ['ints', 8 * MiB, /decoding work/],
      ['keys', 1024 * 1024, /decoded pickle/],
      ['lists', 192 * 1024, /decoded pickle/],
    ]
    for (const [name, within, message] of cases) {
      it(`${name}: E_TOO_LARGE within ${within} bytes, holding at most ${bound / MiB} MiB`, () => {
        const {error, fed, heldBytes} = feed(INSTANCES[name]())
        expect(error).to.be.instanceOf(PickleError)
        expect(error!.code).to.equal('E_TOO_LARGE')
        expect(error!.fatal).to.equal(true)
        expect(error!.message).to.match(message)
        expect(fed).to.be.below(within)
        expect(heldBytes).to.be.at.most(bound)
      })
    }

    it('ints: with no CPU limit, memory refuses them too, before 40 MB', () => {
      const {error, fed, heldBytes} = feed(INSTANCES.ints(), {maxWork: Number.MAX_SAFE_INTEGER})
      expect(error?.code).to.equal('E_TOO_LARGE')
      expect(error!.message).to.match(/decoded pickle/)
      expect(fed).to.be.below(40 * MiB)
      expect(heldBytes).to.be.at.most(bound)
    })

    it('charges the CPU of a decimal int by the square of its digits', () => {
      const line = (digits: number) => Buffer.from(`(I${'7'.repeat(digits)}\n`)
      const limits = {maxWork: 60_000}
      expect(feed([line(4300)], limits).error?.message).to.match(/decoding work/)
      expect(feed([line(4000)], limits).error).to.equal(undefined)
      // 17 ints of 1000 digits (17,000 digits) cost less than one of 4300: quadratic, not linear.
      expect(feed([Buffer.from('('), ...repeated(Buffer.from(`I${'7'.repeat(1000)}\n`), 17)], limits).error).to.equal(
        undefined,
      )
    })
  })

  describe('the shared decode budget', () => {
    const frame = (body: Buffer) => Buffer.concat([frameHeader(body.length, 'big'), body])
    const openLists = (count: number) => Buffer.concat([Buffer.from('\x80\x04(', 'latin1'), Buffer.alloc(count, ']')])

    it('a decoder that would take it past its end gets E_BUSY (fatal); done and failed ones give it back', () => {
      const budget = new DecodeBudget(3 * MiB)
      const first = new PickleDecoder({budget})
      first.write(openLists(20_000), [])
      expect(budget.inUse).to.be.at.least(first.chargedBytes)
      const second = new PickleDecoder({budget})
      let caught: unknown
      try {
        // Alone it would fit: 10,000 lists are about 1.2 MB.
        second.write(openLists(10_000), [])
      } catch (error) {
        caught = error
      }

      expect(caught).to.be.instanceOf(PickleError)
      expect((caught as PickleError).code).to.equal('E_BUSY')
      expect((caught as PickleError).fatal).to.equal(true)
      expect((caught as PickleError).message).to.match(/try again/)
      // The failed decoder gave its part back; the first one still holds its own.
      expect(budget.inUse)
        .to.be.at.least(first.chargedBytes)
        .and.below(first.chargedBytes + 512 * 1024)
      first.release()
      expect(budget.inUse).to.equal(0)
      const third = new PickleDecoder({budget})
      third.write(openLists(10_000), [])
      expect(budget.inUse).to.be.above(0)
      third.release()
      expect(budget.inUse).to.equal(0)
    })

    it('MessageReader reserves per frame and releases at the message, at a failure and at release()', () => {
      const budget = new DecodeBudget(64 * MiB)
      const events: ReaderEvent[] = []
      const reader = new MessageReader({maxFrameBytes: 4 * MiB, budget})
      const big = Buffer.concat([Buffer.from('\x80\x04}(', 'latin1'), Buffer.alloc(30_000, 'N'), Buffer.from('1.')])
      const whole = frame(big)
      reader.write(whole.subarray(0, -2), events)
      expect(budget.inUse).to.be.above(0)
      reader.write(whole.subarray(-2), events)
      expect(events.map((e) => e.type)).to.deep.equal(['message'])
      expect(budget.inUse).to.equal(0)
      expect(budget.peakInUse).to.be.above(0)

      reader.write(whole.subarray(0, 20_000), events)
      expect(budget.inUse).to.be.above(0)
      reader.release()
      expect(budget.inUse).to.equal(0)

      const failing = new MessageReader({maxFrameBytes: 4 * MiB, budget})
      expect(() => failing.write(frame(Buffer.concat([openLists(20_000), Buffer.from('b')])), [])).to.throw(PickleError)
      expect(budget.inUse).to.equal(0)
    })

    it('16 connections of held-open memo pickles stay within a 64 MiB budget: the rest get E_BUSY', () => {
      const budget = new DecodeBudget(64 * MiB)
      const codes: string[] = []
      const readers: MessageReader[] = []
      const body = Buffer.concat([Buffer.from([0x80, 4, 0x7d]), ...repeated(Buffer.from([0x7d, 0x94]), 40_000)])
      for (let k = 0; k < 16; k++) {
        const reader = new MessageReader({maxFrameBytes: 4 * MiB, budget})
        readers.push(reader)
        try {
          reader.write(Buffer.concat([frameHeader(body.length + 1, 'big'), body]), [])
          codes.push('held')
        } catch (error) {
          codes.push((error as PickleError).code)
        }

        expect(budget.inUse).to.be.at.most(budget.limit)
      }

      expect(codes.filter((c) => c === 'held').length).to.be.within(2, 6)
      expect(codes.filter((c) => c === 'E_BUSY').length).to.be.at.least(10)
      for (const reader of readers) reader.release()
      expect(budget.inUse).to.equal(0)
    })
  })
})
