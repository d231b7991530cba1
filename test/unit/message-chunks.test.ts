import {expect} from 'chai'
import fc from 'fast-check'

import {encodeFrame, encodeFrameChunks, type OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import type {PickleProtocol, StringList} from '../../src/core/protocol/pickle-encoder.js'
import {loadWithPython, typed} from '../fixtures/pickle/typed-values.js'

function listAnswer(details: StringList, extra?: OutgoingMessage['extra']): OutgoingMessage {
  return {COMMAND: 'LIST', STATUS: 'OK', DETAILS: details, FILENAME: null, FILE_DATA: null, extra}
}

/** Every chunk, checking that no chunk but one holding a single long str is over `chunkBytes`. */
function collect(message: OutgoingMessage, options: Parameters<typeof encodeFrameChunks>[1] = {}): Buffer[] {
  const frame = encodeFrameChunks(message, options)
  const chunks = [...frame.chunks]
  expect(Buffer.concat(chunks).length).to.equal(frame.length)
  return chunks
}

/** `count` names of 1 to 300 UTF-8 bytes, some non-ASCII, some astral, so both str opcodes occur. */
function names(count: number, seed = 1): string[] {
  const result: string[] = []
  let state = seed
  for (let i = 0; i < count; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    const length = 1 + (state % 150)
    const base = i % 3 === 0 ? 'é' : i % 5 === 0 ? '\u{1F600}' : 'a'
    result.push(`${i}-${base.repeat(length)}.png`)
  }
  return result
}

/** A view over an array that is a StringList but not an Array, as the LIST handler hands one over. */
function view(items: readonly string[]): StringList {
  return {
    length: items.length,
    *[Symbol.iterator]() {
      yield* items
    },
  }
}

describe('encodeFrameChunks (a LIST answer encoded as it is sent)', () => {
  const counts = [0, 1, 2, 999, 1000, 1001, 2001, 3000]
  for (const protocol of [2, 3, 4, 5] as PickleProtocol[]) {
    it(`is byte-identical to encodeFrame for ${counts.join(', ')} names at protocol ${protocol}`, () => {
      for (const count of counts) {
        const list = names(count, count + protocol)
        const message = listAnswer(list, {VERSION: 1n, NEXT: 'zz.png'})
        const whole = encodeFrame(message, {protocol, byteOrder: 'little'})
        const chunked = Buffer.concat(collect(listAnswer(view(list), message.extra), {protocol, byteOrder: 'little'}))
        expect(chunked.equals(whole), `${count} names`).to.equal(true)
      }
    })
  }

  it('makes chunks of about chunkBytes, so memory is one chunk whatever the list', () => {
    const list = names(70_000)
    const chunks = collect(listAnswer(view(list)), {chunkBytes: 64 * 1024})
    const whole = encodeFrame(listAnswer(list))
    expect(Buffer.concat(chunks).equals(whole)).to.equal(true)
    expect(whole.length).to.be.greaterThan(10 * 64 * 1024)
    expect(chunks.length).to.be.greaterThan(10)
    for (const chunk of chunks) expect(chunk.length).to.be.at.most(64 * 1024)
  })

  it('gives the same bytes for any chunk size, even one smaller than a name', () => {
    const list = names(2500, 7)
    const whole = encodeFrame(listAnswer(list))
    for (const chunkBytes of [1, 17, 255, 4096]) {
      expect(Buffer.concat(collect(listAnswer(view(list)), {chunkBytes})).equals(whole), `${chunkBytes}`).to.equal(true)
    }
  })

  it('agrees with encodeFrame on arbitrary string lists (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({unit: 'grapheme', maxLength: 300}), {maxLength: 2100}),
        fc.integer({min: 16, max: 5000}),
        (list, chunkBytes) => {
          const whole = encodeFrame(listAnswer(list))
          return Buffer.concat(collect(listAnswer(view(list)), {chunkBytes})).equals(whole)
        },
      ),
      {numRuns: 60},
    )
  })

  it('is read by CPython pickle.loads as the same dict, types included', () => {
    const list = names(2345, 3)
    const frame = Buffer.concat(collect(listAnswer(view(list), {NEXT: list.at(-1)!}), {chunkBytes: 1000}))
    expect(frame.readUInt32BE(0)).to.equal(frame.length - 4)
    const [loaded] = loadWithPython([frame.subarray(4)])
    expect(loaded).to.deep.equal(
      typed(
        new Map<string, unknown>([
          ['COMMAND', 'LIST'],
          ['STATUS', 'OK'],
          ['DETAILS', list],
          ['FILENAME', null],
          // Extension keys go before FILE_DATA, which iss writes last.
          ['NEXT', list.at(-1)],
          ['FILE_DATA', null],
        ]),
      ),
    )
  })

  it('sends a message DETAILS as one chunk, the whole frame', () => {
    const message: OutgoingMessage = {...listAnswer([]), DETAILS: 'No files on server'}
    const chunks = collect(message)
    expect(chunks).to.have.length(1)
    expect(chunks[0].equals(encodeFrame(message))).to.equal(true)
  })

  it('refuses a lone surrogate before any byte is produced', () => {
    expect(() => encodeFrameChunks(listAnswer(view(['a.png', 'b\uD800.png'])))).to.throw(RangeError, /lone surrogate/)
  })

  it('throws instead of sending a wrong frame when the list changes between measuring and encoding', () => {
    const list = names(1500)
    const grown = encodeFrameChunks(listAnswer(list))
    list.push('late.png')
    expect(() => [...grown.chunks]).to.throw(RangeError)

    const renamed = names(1500)
    const same = encodeFrameChunks(listAnswer(renamed))
    renamed[10] += 'x'
    expect(() => [...same.chunks]).to.throw(RangeError, /measured/)
  })
})
