import {expect} from 'chai'
import fc from 'fast-check'

import {maxFrameBytes, DEFAULT_MAX_SIZE} from '../../src/core/config.js'
import {type IssError} from '../../src/core/errors.js'
import {type Message} from '../../src/core/protocol/message.js'
import {MessageReader, type MessageReaderOptions, type ReaderEvent} from '../../src/core/protocol/message-reader.js'
import {PickleError} from '../../src/core/protocol/pickle-decoder.js'
import {StreamedBytes} from '../../src/core/protocol/values.js'
import {type GoldenVector, goldenVectors, seedFrames, sizedPickle} from '../fixtures/pickle/golden.js'
import {python, type Typed, typed} from '../fixtures/pickle/typed-values.js'

const MAX_FRAME = maxFrameBytes(DEFAULT_MAX_SIZE)

/** What a sequence of events says, in a comparable form: messages typed, streams joined. */
function summarize(events: readonly ReaderEvent[]): unknown[] {
  const out: unknown[] = []
  let stream: Buffer[] | undefined
  for (const event of events) {
    switch (event.type) {
      case 'stream-start': {
        stream = []
        break
      }
      case 'stream-data': {
        stream!.push(Buffer.from(event.chunk))
        break
      }
      case 'stream-end': {
        const data = Buffer.concat(stream!)
        expect(data.length).to.equal(event.length)
        out.push(['stream', data.toString('hex')])
        stream = undefined
        break
      }
      case 'message': {
        out.push(['message', event.byteOrder, event.frameLength, messageTyped(event.message)])
        break
      }
      case 'rejected':
        out.push(['rejected', event.error.code, event.error.message, event.command, event.filename])
    }
  }

  return out
}

function messageTyped(message: Message): unknown {
  const {extra, ...known} = message
  return {
    ...Object.fromEntries(
      Object.entries(known).map(([k, v]) => [k, v instanceof StreamedBytes ? ['streamed', v.length] : typed(v)]),
    ),
    extra: typed(extra),
  }
}

function read(
  chunks: readonly Buffer[],
  options: Partial<MessageReaderOptions> = {},
): {events: ReaderEvent[]; reader: MessageReader} {
  const reader = new MessageReader({maxFrameBytes: MAX_FRAME, streamKeys: ['FILE_DATA'], ...options})
  const events: ReaderEvent[] = []
  for (const chunk of chunks) reader.write(chunk, events)
  expect(reader.inFrame, 'no frame left unfinished').to.equal(false)
  return {events, reader}
}

function fails(
  chunks: readonly Buffer[],
  options: Partial<MessageReaderOptions> = {},
): {error: IssError; reader: MessageReader; events: ReaderEvent[]} {
  const reader = new MessageReader({maxFrameBytes: MAX_FRAME, ...options})
  const events: ReaderEvent[] = []
  let caught: unknown
  try {
    for (const chunk of chunks) reader.write(chunk, events)
  } catch (error) {
    caught = error
  }

  expect(caught, 'a fatal error').to.be.instanceOf(Error)
  const error = caught as IssError
  expect(error.fatal).to.equal(true)
  expect(() => reader.write(Buffer.from([0]), [])).to.throw()
  return {error, reader, events}
}

function frame(pickle: Buffer, order: 'big' | 'little', length = pickle.length): Buffer {
  const header = Buffer.alloc(4)
  if (order === 'big') header.writeUInt32BE(length)
  else header.writeUInt32LE(length)
  return Buffer.concat([header, pickle])
}

/** The expected fields of a golden message: the seed keys as typed values, FILE_DATA as its bytes. */
function expectedOf(v: GoldenVector): Map<string, Typed> {
  return new Map((v.typed[1] as Array<[Typed, Typed]>).map(([k, value]) => [k[1] as string, value]))
}

describe('message-reader', () => {
  let messages: GoldenVector[]
  let native: Buffer[]
  let big: Buffer[]

  before(function () {
    this.timeout(120_000)
    messages = goldenVectors().filter((v) => v.message)
    native = seedFrames(
      messages.map((v) => v.pickle),
      'native',
    )
    big = seedFrames(
      messages.map((v) => v.pickle),
      'big',
    )
  })

  describe('golden messages framed by a python seed client', () => {
    for (const order of ['native', 'big'] as const) {
      it(`reads every message at every protocol, ${order === 'native' ? "struct.pack('I')" : "struct.pack('>I')"}, one frame per chunk`, () => {
        const frames = order === 'native' ? native : big
        expect(frames[0].readUInt32LE(0)).to.equal(
          order === 'native' ? messages[0].pickle.length : frames[0].readUInt32LE(0),
        )
        for (const [k, v] of messages.entries()) {
          const {events, reader} = read([frames[k]])
          const message = events.at(-1)!
          expect(message.type, `${v.name} ${v.protocol}`).to.equal('message')
          if (message.type !== 'message') continue
          expect(message.byteOrder).to.equal(order === 'native' ? 'little' : 'big')
          expect(reader.byteOrder).to.equal(message.byteOrder)
          expect(message.frameLength).to.equal(v.pickle.length)
          const expected = expectedOf(v)
          const streamed = summarize(events).filter((e) => (e as unknown[])[0] === 'stream') as Array<[string, string]>
          for (const [key, value] of expected) {
            const got = Object.hasOwn(message.message, key)
              ? (message.message as unknown as Record<string, unknown>)[key]
              : message.message.extra.get(key)
            if (got instanceof StreamedBytes)
              expect(['bytes', streamed[0][1]], `${v.name} ${v.protocol} ${key}`).to.deep.equal(value)
            else expect(typed(got), `${v.name} ${v.protocol} ${key}`).to.deep.equal(value)
          }
        }
      })
    }

    it('reads several frames from one chunk, in order, and the same from every two-chunk cut', function () {
      this.timeout(120_000)
      const names = new Set(['DETAILS list', 'empty bytes', 'seed example', 'unicode names'])
      const small = messages.filter((v) => names.has(v.name) && v.protocol % 2 === 0)
      const stream = Buffer.concat(small.map((v) => frame(v.pickle, 'little')))
      const whole = summarize(read([stream]).events)
      expect(whole.filter((e) => (e as unknown[])[0] === 'message')).to.have.length(small.length)
      for (let cut = 1; cut < stream.length; cut += 1) {
        expect(summarize(read([stream.subarray(0, cut), stream.subarray(cut)]).events), `cut at ${cut}`).to.deep.equal(
          whole,
        )
      }
    })

    it('reads the same from random multi-chunk splits of all the frames (fast-check)', function () {
      this.timeout(120_000)
      const stream = Buffer.concat(native.filter((f) => f.length < 300_000))
      const whole = summarize(read([stream]).events)
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({min: 1, max: stream.length - 1}), {maxLength: 200}), (points) => {
          points.sort((a, b) => a - b)
          const chunks = [...points, stream.length].map((end, k) => stream.subarray(k === 0 ? 0 : points[k - 1], end))
          expect(summarize(read(chunks).events)).to.deep.equal(whole)
        }),
        {numRuns: 25, seed: 5},
      )
    })

    it('reads frames byte by byte', () => {
      const stream = Buffer.concat(big.filter((f) => f.length < 2000))
      const chunks = Array.from({length: stream.length}, (_, k) => stream.subarray(k, k + 1))
      expect(summarize(read(chunks).events)).to.deep.equal(summarize(read([stream]).events))
    })
  })

  describe('byte order detection', () => {
    it('decides an ambiguous 272-byte frame by where STOP lands, either order', () => {
      const pickle = sizedPickle(272, 4)
      for (const order of ['little', 'big'] as const) {
        const data = frame(pickle, order)
        const other = order === 'little' ? data.readUInt32BE(0) : data.readUInt32LE(0)
        expect(other, 'the other reading is plausible too').to.be.within(2, MAX_FRAME)
        const reader = new MessageReader({maxFrameBytes: MAX_FRAME})
        const events: ReaderEvent[] = []
        reader.write(data.subarray(0, 100), events)
        expect(reader.byteOrder).to.equal(undefined)
        expect(reader.inFrame).to.equal(true)
        reader.write(Buffer.concat([data.subarray(100), frame(pickle, order)]), events)
        expect(events.map((e) => e.type)).to.deep.equal([
          'stream-start',
          'stream-data',
          'stream-end',
          'message',
          'stream-start',
          'stream-data',
          'stream-end',
          'message',
        ])
        for (const event of events) if (event.type === 'message') expect(event.byteOrder).to.equal(order)
        expect(reader.byteOrder).to.equal(order)
      }
    })

    it('drops the shorter reading once the body passes it (65536 bytes LE reads as 256 BE)', () => {
      const pickle = sizedPickle(65_536, 4)
      const data = frame(pickle, 'little')
      expect(data.readUInt32BE(0)).to.equal(256)
      const {events, reader} = read([data.subarray(0, 1000), data.subarray(1000)])
      const message = events.at(-1)!
      expect(message).to.deep.include({type: 'message', byteOrder: 'little', frameLength: 65_536})
      expect(reader.byteOrder).to.equal('little')
    })

    it('takes the only plausible reading at once, and keeps the order for later frames', () => {
      const pickle = goldenVectors().find((v) => v.name === 'seed example' && v.protocol === 4)!.pickle
      const reader = new MessageReader({maxFrameBytes: 1 << 20})
      const events: ReaderEvent[] = []
      reader.write(frame(pickle, 'big').subarray(0, 10), events)
      expect(reader.byteOrder).to.equal('big')
      reader.write(frame(pickle, 'big').subarray(10), events)
      // A later little-endian frame is read big-endian: 0x47010000 bytes, over the limit.
      expect(() => reader.write(frame(pickle, 'little'), events))
        .to.throw()
        .with.property('code', 'E_TOO_LARGE')
    })

    it('leaves the order open for a header that reads the same both ways, until a later frame shows it', () => {
      const pickle = sizedPickle(0x0001_0100, 4)
      const data = frame(pickle, 'little')
      expect(data.subarray(0, 4).toString('hex')).to.equal('00010100')
      const reader = new MessageReader({maxFrameBytes: MAX_FRAME})
      const events: ReaderEvent[] = []
      reader.write(data, events)
      expect(events.at(-1)).to.deep.include({type: 'message', byteOrder: 'big', frameLength: 0x0001_0100})
      expect(reader.byteOrder).to.equal(undefined)
      reader.write(frame(sizedPickle(272, 4), 'little'), events)
      expect(reader.byteOrder).to.equal('little')
    })

    it('uses a fixed byteOrder without detection', () => {
      const pickle = sizedPickle(272, 4)
      const {events} = read([frame(pickle, 'big')], {byteOrder: 'big'})
      expect(events.at(-1)).to.deep.include({type: 'message', byteOrder: 'big', frameLength: 272})
      const {error} = fails([frame(pickle, 'little')], {byteOrder: 'big'})
      expect(error.code).to.equal('E_MALFORMED')
    })
  })

  describe('frame limits', () => {
    it('refuses a 0xFFFFFFFF header from the header alone, allocating nothing', () => {
      const before = process.memoryUsage().arrayBuffers
      for (const byteOrder of ['detect', 'big', 'little'] as const) {
        const {error, reader} = fails([Buffer.from('ffffffff80047d', 'hex')], {byteOrder})
        expect(error.code).to.equal('E_TOO_LARGE')
        expect(error.message).to.equal(`Frame is 4294967295 bytes, over the limit of ${MAX_FRAME} bytes`)
        expect(reader.announcedRemaining).to.equal(0xffff_ffff - 3)
      }

      expect(process.memoryUsage().arrayBuffers - before).to.be.below(1 << 20)
    })

    it('names the announced size when every reading is impossible', () => {
      // BE reads 1 (too short), LE reads 16 MiB (over a 1 MiB limit).
      const {error, reader} = fails([Buffer.from('00000001', 'hex')], {maxFrameBytes: 1 << 20})
      expect(error.code).to.equal('E_TOO_LARGE')
      expect(error.message).to.match(/Frame is 16777216 bytes/)
      expect(reader.announcedRemaining).to.equal(16_777_216)
      expect(fails([Buffer.from('00000000', 'hex')]).error.code).to.equal('E_MALFORMED')
    })

    it('reports E_TOO_LARGE when the plausible reading fails and the other one was over the limit', () => {
      // A 512 MiB little-endian frame with a 3 MiB limit: its big-endian reading (32 bytes) is wrong.
      const header = Buffer.from('00000020', 'hex')
      const le = header.readUInt32LE(0)
      expect(header.readUInt32BE(0)).to.equal(32)
      // {} then a BINBYTES of 1000 bytes: no STOP within the first 32 bytes.
      const body = Buffer.concat([Buffer.from('80047d42e8030000', 'hex'), Buffer.alloc(200)])
      const {error, reader} = fails([header, body], {maxFrameBytes: 3 << 20})
      expect(error.code).to.equal('E_TOO_LARGE')
      expect(error.message).to.match(new RegExp(`Frame is ${le} bytes`))
      expect(reader.announcedRemaining).to.be.greaterThan(le - 300)
    })
  })

  describe('pickle and frame must end together', () => {
    const pickle = Buffer.from('80047d942e', 'hex') // {} at protocol 4

    it('refuses bytes after STOP inside the frame', () => {
      const {error, reader} = fails([frame(Buffer.concat([pickle, Buffer.from('abc')]), 'big')], {byteOrder: 'big'})
      expect(error.code).to.equal('E_MALFORMED')
      expect(error.message).to.match(/the pickle ends at byte 5 of a 8-byte frame/)
      expect(reader.announcedRemaining).to.equal(0)
    })

    it('refuses a frame that ends before STOP', () => {
      const {error} = fails([frame(pickle.subarray(0, 4), 'big'), Buffer.from('2e', 'hex')], {byteOrder: 'big'})
      expect(error.code).to.equal('E_MALFORMED')
      expect(error.message).to.match(/4-byte frame ends before the pickle's STOP/)
    })

    it('refuses a top-level value that is not a dict', () => {
      const {error} = fails([frame(Buffer.from('80045d942e', 'hex'), 'big')])
      expect(error.code).to.equal('E_MALFORMED')
      expect(error.message).to.match(/the message is a list, not a dict/)
    })

    it("passes on the decoder's refusal with what the peer still has to send", () => {
      const body = Buffer.from('\x80\x04\x8c\x02os\x8c\x06system\x93' + 'x'.repeat(100), 'latin1')
      const data = frame(body, 'big')
      const {error, reader} = fails([data.subarray(0, 30)], {byteOrder: 'big'})
      expect(error).to.be.instanceOf(PickleError)
      expect((error as PickleError).opcode).to.equal('STACK_GLOBAL os.system')
      expect(reader.announcedRemaining).to.equal(data.length - 30)
    })
  })

  describe('validation', () => {
    it("answers 'rejected' for wrong types and goes on with the next frame", () => {
      const pickles = python(String.raw`
import base64, pickle, sys
for d in [{'COMMAND': 'PUT', 'STATUS': 5, 'FILENAME': 'a.png'},
          {'COMMAND': 'PUT', 'FILE_DATA': 'not bytes', 'FILENAME': 'b.png'},
          {'COMMAND': 'LIST', 'DETAILS': [1]},
          {1: 'int key'},
          {'COMMAND': 'LIST', 'STATUS': 'REQUEST'}]:
    print(base64.b64encode(pickle.dumps(d, protocol=4)).decode())
`)
        .toString()
        .trim()
        .split('\n')
        .map((line) => Buffer.from(line, 'base64'))
      const {events} = read([Buffer.concat(pickles.map((p) => frame(p, 'little')))])
      expect(events.map((e) => e.type)).to.deep.equal(['rejected', 'rejected', 'rejected', 'rejected', 'message'])
      const [status, fileData, details, intKey] = events as Array<Extract<ReaderEvent, {type: 'rejected'}>>
      expect(status).to.deep.include({command: 'PUT', filename: 'a.png'})
      expect(status.error.message).to.match(/STATUS must be a str or None, not int/)
      expect(status.error.code).to.equal('E_MALFORMED')
      expect(status.error.fatal).to.equal(false)
      expect(fileData).to.deep.include({command: 'PUT', filename: 'b.png'})
      expect(fileData.error.message).to.match(/FILE_DATA must be bytes or None, not str/)
      expect(details.error.message).to.match(/DETAILS must be a list of str/)
      expect(intKey).to.deep.include({command: null, filename: null})
    })
  })

  describe('streaming through the reader', () => {
    it('bounds stream-start maxLength by the frame, even for protocol 0 which has no length field', () => {
      const v = goldenVectors().find((x) => x.name === 'seed example' && x.protocol === 0)!
      const {events} = read([frame(v.pickle, 'big')])
      const start = events.find((e) => e.type === 'stream-start')!
      expect(start.type === 'stream-start' && start.maxLength).to.be.at.most(v.pickle.length)
    })

    it('refuses FILE_DATA over maxStreamBytes with E_TOO_LARGE', () => {
      const v = goldenVectors().find((x) => x.name === 'seed example' && x.protocol === 4)!
      const {error, events} = fails([frame(v.pickle, 'big')], {maxStreamBytes: 100, streamKeys: ['FILE_DATA']})
      expect(error.code).to.equal('E_TOO_LARGE')
      expect(error.message).to.match(/FILE_DATA is 264 bytes, over the limit of 100 bytes/)
      expect(events.filter((e) => e.type === 'stream-start')).to.deep.equal([])
    })

    it('hands stream-data on as chunks arrive, before the frame is complete', () => {
      const v = goldenVectors().find((x) => x.name === '1 MiB FILE_DATA' && x.protocol === 5)!
      const data = frame(v.pickle, 'big')
      const reader = new MessageReader({maxFrameBytes: MAX_FRAME})
      const events: ReaderEvent[] = []
      reader.write(data.subarray(0, 500_000), events)
      const streamed = events.reduce((n, e) => n + (e.type === 'stream-data' ? e.chunk.length : 0), 0)
      expect(streamed).to.be.greaterThan(400_000)
      expect(reader.inFrame).to.equal(true)
      reader.write(data.subarray(500_000), events)
      expect(events.at(-1)!.type).to.equal('message')
      expect(reader.inFrame).to.equal(false)
    })
  })
})
