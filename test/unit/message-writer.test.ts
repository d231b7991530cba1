import {expect} from 'chai'
import fc from 'fast-check'

import {orderFreeLength} from '../../src/core/protocol/frame-header.js'
import {
  encodeFrame,
  encodeStreamingFrame,
  type OutgoingMessage,
  PAD_KEY,
  responseFor,
} from '../../src/core/protocol/message-writer.js'
import type {PickleProtocol} from '../../src/core/protocol/pickle-encoder.js'
import {loadWithPython} from '../fixtures/pickle/typed-values.js'

const seedRequest: OutgoingMessage = {
  COMMAND: 'PUT',
  STATUS: 'REQUEST',
  DETAILS: null,
  FILENAME: 'image.png',
  FILE_DATA: Buffer.from('89504e470d0a1a0a', 'hex'),
}

function withoutFileData(message: OutgoingMessage): Omit<OutgoingMessage, 'FILE_DATA'> {
  const {COMMAND, STATUS, DETAILS, FILENAME, extra} = message
  return {COMMAND, STATUS, DETAILS, FILENAME, extra}
}

describe('message-writer', () => {
  describe('encodeFrame', () => {
    it('writes a big-endian header with the pickle length, then a protocol 4 pickle', () => {
      const frame = encodeFrame(seedRequest)
      expect(frame.readUInt32BE(0)).to.equal(frame.length - 4)
      expect(frame.subarray(4, 6)).to.deep.equal(Buffer.from([0x80, 4]))
    })

    it('writes a little-endian header when asked', () => {
      const frame = encodeFrame(seedRequest, {byteOrder: 'little'})
      expect(frame.readUInt32LE(0)).to.equal(frame.length - 4)
      expect(frame.subarray(4)).to.deep.equal(encodeFrame(seedRequest).subarray(4))
    })

    it('puts the seed keys first in seed order, then extra keys, FILE_DATA last, and CPython reads every type', () => {
      const message: OutgoingMessage = {
        COMMAND: 'GET',
        STATUS: 'ERROR',
        DETAILS: ['a', 'b'],
        FILENAME: null,
        FILE_DATA: null,
        extra: {VERSION: 1n, CODE: 'E_NOT_FOUND', COMMANDS: ['PUT', 'GET']},
      }
      const [loaded] = loadWithPython([encodeFrame(message).subarray(4)])
      expect(loaded).to.deep.equal([
        'dict',
        [
          [
            ['str', 'COMMAND'],
            ['str', 'GET'],
          ],
          [
            ['str', 'STATUS'],
            ['str', 'ERROR'],
          ],
          [
            ['str', 'DETAILS'],
            [
              'list',
              [
                ['str', 'a'],
                ['str', 'b'],
              ],
            ],
          ],
          [['str', 'FILENAME'], ['None']],
          [
            ['str', 'VERSION'],
            ['int', '1'],
          ],
          [
            ['str', 'CODE'],
            ['str', 'E_NOT_FOUND'],
          ],
          [
            ['str', 'COMMANDS'],
            [
              'list',
              [
                ['str', 'PUT'],
                ['str', 'GET'],
              ],
            ],
          ],
          [['str', 'FILE_DATA'], ['None']],
        ],
      ])
    })

    it('refuses an extra key that would shadow a seed key', () => {
      expect(() => encodeFrame({...seedRequest, extra: {FILE_DATA: null}})).to.throw(TypeError, /FILE_DATA/)
    })
  })

  describe('encodeStreamingFrame', () => {
    for (const protocol of [3, 4, 5] as PickleProtocol[]) {
      it(`head + data + tail is byte-identical to encodeFrame at protocol ${protocol}, for every size class`, () => {
        for (const size of [0, 1, 255, 256, 65_535, 65_536, 200_000]) {
          const data = Buffer.alloc(size, size & 0xff)
          const message = {...seedRequest, FILE_DATA: data, extra: {VERSION: 1n}}
          for (const byteOrder of ['big', 'little'] as const) {
            const whole = encodeFrame(message, {protocol, byteOrder})
            const {head, tail, frameLength} = encodeStreamingFrame(withoutFileData(message), size, {
              protocol,
              byteOrder,
            })
            expect(frameLength, `size ${size}`).to.equal(whole.length - 4)
            expect(Buffer.concat([head, data, tail]).equals(whole), `size ${size} ${byteOrder}`).to.equal(true)
          }
        }
      })
    }

    it('is byte-identical for random messages', () => {
      const text = fc.option(fc.string({unit: 'binary', maxLength: 300}), {nil: null})
      const message = fc.record({
        COMMAND: text,
        STATUS: text,
        DETAILS: fc.oneof(text, fc.array(fc.string({maxLength: 20}), {maxLength: 5})),
        FILENAME: text,
        FILE_DATA: fc.uint8Array({maxLength: 1000}).map((a) => Buffer.from(a)),
      })
      fc.assert(
        fc.property(message, fc.constantFrom<PickleProtocol>(3, 4, 5), (value, protocol) => {
          const whole = encodeFrame(value, {protocol})
          const {head, tail, frameLength} = encodeStreamingFrame(withoutFileData(value), value.FILE_DATA.length, {
            protocol,
          })
          return frameLength === whole.length - 4 && Buffer.concat([head, value.FILE_DATA, tail]).equals(whole)
        }),
        {numRuns: 300},
      )
    })

    it('knows the length of a 5 GiB FILE_DATA frame is too long for the header, before any byte', () => {
      expect(() => encodeStreamingFrame(withoutFileData(seedRequest), 5 * 2 ** 30)).to.throw(RangeError, /4-byte/)
    })

    it('keeps the head and tail small for a large FILE_DATA', () => {
      const {head, tail, frameLength} = encodeStreamingFrame(withoutFileData(seedRequest), 2 ** 31)
      expect(head.length + tail.length).to.be.lessThan(200)
      expect(frameLength).to.equal(head.length - 4 + 2 ** 31 + tail.length)
      expect(head.readUInt32BE(0)).to.equal(frameLength)
    })

    it('refuses protocol 2, where the encoded length depends on the content', () => {
      expect(() => encodeStreamingFrame(withoutFileData(seedRequest), 10, {protocol: 2})).to.throw(
        RangeError,
        /protocols 3 to 5/,
      )
    })

    it('refuses a length that is no byte count', () => {
      for (const bad of [-1, 1.5, NaN]) {
        expect(() => encodeStreamingFrame(withoutFileData(seedRequest), bad)).to.throw(RangeError, /byte count/)
      }
    })
  })

  describe('order-free frames (a first request to a server of unknown byte order)', () => {
    const readsTheSameBothWays = (header: Buffer) => header.readUInt32BE(0) === header.readUInt32LE(0)

    it('orderFreeLength is the smallest length at or above the minimum that reads the same in both orders', () => {
      fc.assert(
        fc.property(fc.integer({min: 0, max: 0xfe00_0000}), (minimum) => {
          const length = orderFreeLength(minimum)
          const header = Buffer.alloc(4)
          header.writeUInt32BE(length)
          expect(readsTheSameBothWays(header)).to.equal(true)
          expect(length).to.be.at.least(Math.max(minimum, 1))
          expect(length - minimum).to.be.at.most(65_792)
          // Nothing order-free was skipped: the whole gap below it is checked.
          for (let n = Math.max(minimum, 1); n < length; n++) {
            header.writeUInt32BE(n)
            if (readsTheSameBothWays(header)) return false
          }
          return true
        }),
        {numRuns: 300},
      )
    })

    it('pads requests of every size class so both readings agree, streamed or whole; CPython reads PAD before FILE_DATA', () => {
      const sizes = [0, 1, 200, 65_000, 65_792, 300_000]
      const frames = sizes.map((size) => {
        const message = {...seedRequest, FILE_DATA: Buffer.alloc(size, 7), extra: {VERSION: 1n}}
        const frame = encodeFrame(message, {orderFree: true})
        expect(readsTheSameBothWays(frame), `${size}: header ${frame.subarray(0, 4).toString('hex')}`).to.equal(true)
        expect(frame.readUInt32BE(0)).to.equal(frame.length - 4)
        const streamed = encodeStreamingFrame(withoutFileData(message), size, {orderFree: true})
        expect(Buffer.concat([streamed.head, message.FILE_DATA, streamed.tail]).equals(frame), `${size}`).to.equal(true)
        return frame.subarray(4)
      })
      for (const loaded of loadWithPython(frames)) {
        const entries = (loaded as unknown as [string, Array<[[string, string], unknown]>])[1]
        expect(entries.map(([key]) => key[1])).to.deep.equal([
          'COMMAND',
          'STATUS',
          'DETAILS',
          'FILENAME',
          'VERSION',
          PAD_KEY,
          'FILE_DATA',
        ])
      }
    })

    it('leaves a frame alone when not asked', () => {
      expect(encodeFrame(seedRequest).length).to.be.below(100)
    })
  })

  describe('responseFor', () => {
    const response: OutgoingMessage = {
      COMMAND: 'GET',
      STATUS: 'ERROR',
      DETAILS: "File 'x.png' does not exist on server",
      FILENAME: 'x.png',
      FILE_DATA: null,
      extra: {CODE: 'E_NOT_FOUND'},
    }

    it('answers a seed request (no VERSION) with exactly the five seed keys', () => {
      const [loaded] = loadWithPython([encodeFrame(responseFor({VERSION: null}, response)).subarray(4)])
      expect(loaded[0]).to.equal('dict')
      expect((loaded[1] as unknown as Array<[[string, string]]>).map(([[, key]]) => key)).to.deep.equal([
        'COMMAND',
        'STATUS',
        'DETAILS',
        'FILENAME',
        'FILE_DATA',
      ])
    })

    it('keeps the extension keys for an iss request', () => {
      expect(responseFor({VERSION: 1}, response).extra).to.deep.equal({CODE: 'E_NOT_FOUND'})
    })
  })
})
