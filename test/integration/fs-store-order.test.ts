import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import fc from 'fast-check'

import {compareCodePoints, NameIndex} from '../../src/core/store/name-index.js'

/** CPython's sorted() over the same strings: the order a seed client would expect of LIST. */
function pythonSorted(keys: string[]): string[] {
  const out = execFileSync('python3', ['-c', 'import json,sys; print(json.dumps(sorted(json.load(sys.stdin))))'], {
    input: JSON.stringify(keys),
  })
  return JSON.parse(out.toString()) as string[]
}

describe('store listing order', () => {
  it('orders keys by code point exactly as CPython sorted() does', () => {
    const keys = [
      'a',
      'b',
      '\u{FF21}',
      '\u{1F600}',
      '\u{E000}',
      '\u{FFFF}',
      '\u{10000}',
      'ab',
      'a\u{1F600}',
      'a\u{FFEE}',
      '',
    ]
    const ours = [...keys].sort(compareCodePoints)
    expect(ours).to.deep.equal(pythonSorted(keys))
    // UTF-16 order would put the astral character before U+E000: the comparator must not.
    expect(ours.indexOf('\u{1F600}')).to.be.greaterThan(ours.indexOf('\u{FFFF}'))
  })

  it('agrees with CPython on 500 random strings', () => {
    const keys = fc.sample(fc.string({unit: 'grapheme', maxLength: 6}), {numRuns: 500, seed: 42})
    expect([...keys].sort(compareCodePoints)).to.deep.equal(pythonSorted(keys))
  })

  it('keeps the sorted listing through inserts and deletes', () => {
    const index = new NameIndex()
    const model = new Map<string, string>()
    const operations = fc.sample(fc.tuple(fc.boolean(), fc.string({unit: 'grapheme-composite', maxLength: 4})), {
      numRuns: 2000,
      seed: 7,
    })
    for (const [add, key] of operations) {
      if (add) {
        index.set(key, Object.freeze({name: key, size: key.length, modifiedMs: 0}))
        model.set(key, key)
      } else {
        expect(index.delete(key)).to.equal(model.delete(key))
      }
    }

    const expected = [...model.keys()].sort(compareCodePoints)
    expect(index.list().map((image) => image.name)).to.deep.equal(expected)
    expect(index.size).to.equal(model.size)
  })
})
