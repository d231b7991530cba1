import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {identityKey} from '../../src/core/images/names.js'
import type {PickleValue} from '../../src/core/protocol/values.js'
import {compareCodePoints} from '../../src/core/store/name-index.js'
import {fillStore, manyName, listedNames, listRequest} from '../support/many-names.js'
import {RawClient, roundTrip, type RunningServer, startServer} from './server-harness.js'

const FOLDED = ['Zebra.PNG', 'STRASSE-2.png', 'straße.png', '\u00C9clair.jpg', '00005000-Z.png']
const TINY_PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')

describe('LIST pages (AFTER, LIMIT, NEXT)', function () {
  this.timeout(60_000)
  const COUNT = 10_500
  let storage: string
  let running: RunningServer
  let expected: string[]

  before(async () => {
    storage = mkdtempSync(join(tmpdir(), 'iss-list-'))
    fillStore(storage, COUNT - FOLDED.length, 20)
    // Names whose identity key is not the name itself (case, ß, a composed accent) sort by their key.
    for (const name of FOLDED) writeFileSync(join(storage, name), TINY_PNG)
    running = await startServer({storage})
    expected = [...Array.from({length: COUNT - FOLDED.length}, (_, i) => manyName(i, 20)), ...FOLDED].toSorted((a, b) =>
      compareCodePoints(identityKey(a), identityKey(b)),
    )
  })

  after(async () => {
    await running.stop()
    rmSync(storage, {recursive: true, force: true})
  })

  it('pages through every name once, in identity-key order, with NEXT until the last page', async () => {
    const client = await RawClient.connect(running.port)
    try {
      const seen: string[] = []
      let after: string | undefined
      let pages = 0
      for (;;) {
        client.send(listRequest(after === undefined ? {LIMIT: 1000n} : {AFTER: after, LIMIT: 1000n}))
        const answer = await client.read()
        const page = listedNames(answer)
        seen.push(...page)
        pages++
        const next = answer.extra.get('NEXT')
        if (next === undefined) break
        expect(next).to.equal(identityKey(page.at(-1)!))
        expect(page).to.have.length(1000)
        after = next as string
      }

      expect(pages).to.equal(Math.ceil(COUNT / 1000))
      expect(seen).to.deep.equal(expected)
    } finally {
      client.close()
    }
  })

  it('caps LIMIT at 10,000 names a page', async () => {
    const answer = await roundTrip(running.port, listRequest({LIMIT: 1_000_000n}))
    expect(listedNames(answer)).to.have.length(10_000)
    expect(answer.extra.get('NEXT')).to.equal(identityKey(expected[9999]))
  })

  it('starts after AFTER even when it is no stored key, and answers an empty page past the end', async () => {
    const middle = identityKey(expected[4321]) + '!'
    const answer = await roundTrip(running.port, listRequest({AFTER: middle, LIMIT: 3n}))
    expect(listedNames(answer)).to.deep.equal(expected.slice(4322, 4325))
    const end = await roundTrip(running.port, listRequest({AFTER: '\u{10FFFF}', LIMIT: 3n}))
    expect(listedNames(end)).to.deep.equal([])
    expect(end.extra.has('NEXT')).to.equal(false)
  })

  it('gives the whole listing, no NEXT, to a VERSION request that does not page and to a seed request', async () => {
    const versioned = await roundTrip(running.port, listRequest())
    expect(listedNames(versioned)).to.deep.equal(expected)
    expect(versioned.extra.has('NEXT')).to.equal(false)
    const seed = await roundTrip(running.port, listRequest({}, false))
    expect(listedNames(seed)).to.deep.equal(expected)
    expect(seed.extra.size).to.equal(0)
  })

  it('ignores AFTER and LIMIT from a seed request (no VERSION): the seed answer is the whole list', async () => {
    const seed = await roundTrip(running.port, {...listRequest({}, false), extra: {AFTER: expected[5], LIMIT: 2n}})
    expect(listedNames(seed)).to.have.length(COUNT)
  })

  it('refuses a LIMIT or AFTER of the wrong type with E_MALFORMED and keeps the connection', async () => {
    const client = await RawClient.connect(running.port)
    try {
      const wrong: Array<Record<string, PickleValue>> = [
        {LIMIT: 0n},
        {LIMIT: -5n},
        {LIMIT: 'ten'},
        {LIMIT: true},
        {AFTER: 42n},
        {AFTER: 'a'.repeat(5000)},
      ]
      for (const extra of wrong) {
        client.send(listRequest(extra))
        const answer = await client.read()
        expect(answer.STATUS, Object.keys(extra)[0]).to.equal('ERROR')
        expect(answer.CODE).to.equal('E_MALFORMED')
      }

      client.send(listRequest({LIMIT: 2n}))
      expect(listedNames(await client.read())).to.deep.equal(expected.slice(0, 2))
    } finally {
      client.close()
    }
  })

  it('answers the empty-store message to a first page of an empty store', async () => {
    const empty = await startServer()
    try {
      const answer = await roundTrip(empty.port, listRequest({LIMIT: 10n}))
      expect(answer.STATUS).to.equal('OK')
      expect(answer.DETAILS).to.equal('No files on server')
      expect(answer.extra.has('NEXT')).to.equal(false)
    } finally {
      await empty.stop()
    }
  })
})
