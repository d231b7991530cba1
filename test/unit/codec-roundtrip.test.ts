import {expect} from 'chai'
import fc from 'fast-check'

import {type ReaderEvent, MessageReader} from '../../src/core/protocol/message-reader.js'
import {encodeFrame, encodeStreamingFrame, type OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import {type DecodeEvent, decodePickle, PickleDecoder} from '../../src/core/protocol/pickle-decoder.js'
import {encodePickle, type PickleProtocol} from '../../src/core/protocol/pickle-encoder.js'
import {type PickleValue, StreamedBytes} from '../../src/core/protocol/values.js'
import {pickleDict, pickleValue, typed} from '../fixtures/pickle/typed-values.js'

const protocol = fc.constantFrom<PickleProtocol>(2, 3, 4, 5)

/** Cut points: sorted, unique, strictly inside (0, length). */
function cuts(length: number): fc.Arbitrary<number[]> {
  if (length < 2) return fc.constant([])
  return fc
    .uniqueArray(fc.integer({min: 1, max: length - 1}), {maxLength: Math.min(40, length - 1)})
    .map((points) => points.sort((a, b) => a - b))
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

/** Feeds the chunks one by one; returns the decoded value and the events. */
function decodeInChunks(chunks: readonly Buffer[], streamKeys: readonly string[] = []) {
  const decoder = new PickleDecoder({streamKeys})
  const events: DecodeEvent[] = []
  for (const chunk of chunks) decoder.write(chunk, events)
  expect(decoder.done, 'decoder done after the last chunk').to.equal(true)
  return {value: decoder.value, events}
}

const runs = {numRuns: 200, seed: 42}

describe('codec round trip (our encoder, our decoder)', () => {
  it('decodePickle(encodePickle(v)) equals v with its types, at protocols 2 to 5', () => {
    fc.assert(
      fc.property(pickleDict, protocol, (value, proto) => {
        expect(typed(decodePickle(encodePickle(value, {protocol: proto})))).to.deep.equal(typed(value))
      }),
      runs,
    )
  })

  it('round trips any value of the subset inside a dict', () => {
    fc.assert(
      fc.property(pickleValue, protocol, (value, proto) => {
        const dict = new Map<string, PickleValue>([['v', value]])
        expect(typed(decodePickle(encodePickle(dict, {protocol: proto})))).to.deep.equal(typed(dict))
      }),
      runs,
    )
  })

  it('gives the same value whatever the split of the input into chunks', () => {
    const input = fc
      .tuple(pickleDict, protocol)
      .map(([value, proto]) => ({value, pickle: encodePickle(value, {protocol: proto})}))
      .chain(({value, pickle}) => cuts(pickle.length).map((points) => ({value, pickle, points})))
    fc.assert(
      fc.property(input, ({value, pickle, points}) => {
        expect(typed(decodeInChunks(split(pickle, points)).value)).to.deep.equal(typed(value))
      }),
      runs,
    )
  })

  it('streams FILE_DATA to events, whatever the split and the key order', () => {
    const input = fc
      .record({
        before: pickleDict,
        data: fc.uint8Array({maxLength: 5000}).map((a) => Buffer.from(a)),
        proto: fc.constantFrom<PickleProtocol>(3, 4, 5),
      })
      .map(({before, data, proto}) => {
        before.delete('FILE_DATA')
        const dict = new Map<string, PickleValue>([...before, ['FILE_DATA', data]])
        return {data, pickle: encodePickle(dict, {protocol: proto}), others: before}
      })
      .chain((item) => cuts(item.pickle.length).map((points) => ({...item, points})))
    fc.assert(
      fc.property(input, ({data, pickle, others, points}) => {
        const {value, events} = decodeInChunks(split(pickle, points), ['FILE_DATA'])
        const dict = value as Map<string, PickleValue>
        const fileData = dict.get('FILE_DATA')
        // Right after a dict value, FILE_DATA might yet belong to that dict (a SETITEM may follow), so
        // the decoder may hold a small value there instead of streaming it. Anywhere else it streams.
        const afterDict = [...others.values()].at(-1) instanceof Map
        if (afterDict && Buffer.isBuffer(fileData)) {
          expect(events).to.deep.equal([])
          expect(fileData.equals(data)).to.equal(true)
        } else {
          expect(events[0]).to.deep.include({type: 'stream-start', key: 'FILE_DATA'})
          expect(events.at(-1)).to.deep.equal({type: 'stream-end', length: data.length})
          const streamed = Buffer.concat(events.flatMap((event) => (event.type === 'stream-data' ? [event.chunk] : [])))
          expect(streamed.equals(data)).to.equal(true)
          expect(fileData).to.be.instanceOf(StreamedBytes)
          expect((fileData as StreamedBytes).length).to.equal(data.length)
        }

        dict.delete('FILE_DATA')
        expect(typed(dict)).to.deep.equal(typed(others))
      }),
      {numRuns: 100, seed: 7},
    )
  })

  it('reads frames from encodeFrame and encodeStreamingFrame, several per chunk or cut anywhere', () => {
    const text = fc.option(fc.string({unit: 'binary', maxLength: 50}), {nil: null})
    const message: fc.Arbitrary<OutgoingMessage> = fc.record({
      COMMAND: text,
      STATUS: fc.constantFrom('REQUEST', 'OK', 'ERROR'),
      DETAILS: fc.oneof(text, fc.array(fc.string({maxLength: 20}), {maxLength: 5})),
      FILENAME: text,
      FILE_DATA: fc.option(
        fc.uint8Array({maxLength: 3000}).map((a) => Buffer.from(a)),
        {nil: null},
      ),
      extra: fc.constant({VERSION: 1n}),
    })
    const input = fc
      .record({
        messages: fc.array(message, {minLength: 1, maxLength: 4}),
        proto: fc.constantFrom<PickleProtocol>(3, 4, 5),
      })
      .map(({messages, proto}) => {
        const frames = messages.map((m, index) => {
          if (index % 2 === 1 && m.FILE_DATA !== null) {
            const {FILE_DATA: data, ...rest} = m
            const {head, tail} = encodeStreamingFrame(rest, data.length, {protocol: proto})
            return Buffer.concat([head, data, tail])
          }
          return encodeFrame(m, {protocol: proto})
        })
        return {messages, wire: Buffer.concat(frames)}
      })
      .chain((item) => cuts(item.wire.length).map((points) => ({...item, points})))

    fc.assert(
      fc.property(input, ({messages, wire, points}) => {
        const reader = new MessageReader({maxFrameBytes: 1 << 20, byteOrder: 'big'})
        const events: ReaderEvent[] = []
        for (const chunk of split(wire, points)) reader.write(chunk, events)
        const received: Array<{message: Extract<ReaderEvent, {type: 'message'}>['message']; data: Buffer[]}> = []
        let pending: Buffer[] = []
        for (const event of events) {
          switch (event.type) {
            case 'stream-start': {
              pending = []
              break
            }
            case 'stream-data': {
              pending.push(event.chunk)
              break
            }
            case 'stream-end': {
              // The data is in `pending` already.
              break
            }
            case 'message': {
              received.push({message: event.message, data: pending})
              pending = []
              break
            }
            case 'rejected': {
              expect.fail(`rejected: ${String(event.error)}`)
              break
            }
          }
        }
        expect(received).to.have.length(messages.length)
        for (const [index, sent] of messages.entries()) {
          const got = received[index].message
          expect(got.COMMAND).to.equal(sent.COMMAND)
          expect(got.STATUS).to.equal(sent.STATUS)
          expect(got.DETAILS).to.deep.equal(sent.DETAILS)
          expect(got.FILENAME).to.equal(sent.FILENAME)
          expect(got.VERSION).to.equal(1)
          if (sent.FILE_DATA === null) expect(got.FILE_DATA).to.equal(null)
          else if (got.FILE_DATA instanceof StreamedBytes) {
            expect(Buffer.concat(received[index].data).equals(sent.FILE_DATA)).to.equal(true)
          } else expect(got.FILE_DATA?.equals(sent.FILE_DATA)).to.equal(true)
        }
      }),
      {numRuns: 100, seed: 11},
    )
  })
})
