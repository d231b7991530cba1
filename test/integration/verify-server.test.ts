import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {identityKey} from '../../src/core/images/names.js'
import type {Message} from '../../src/core/protocol/message.js'
import type {OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import type {PickleValue} from '../../src/core/protocol/values.js'
import {DIGEST_DIR} from '../../src/core/store/digest-book.js'
import {compareCodePoints} from '../../src/core/store/name-index.js'
import {fillStore, listRequest, listedNames, manyName} from '../support/many-names.js'
import {png, request, roundTrip, type RunningServer, startServer} from './server-harness.js'

const SEED_KEYS = ['COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'FILE_DATA']

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function versioned(
  command: string,
  filename: string | null,
  data: Buffer | null,
  extra: Record<string, PickleValue> = {},
  trailing?: Record<string, PickleValue>,
): OutgoingMessage {
  const message = request(command, filename, data, true)
  return {...message, extra: {...message.extra, ...extra}, ...(trailing && {trailing})}
}

/** The keys of an answer as they arrived (the five seed keys, then extension keys). */
function keysOf(answer: Message): string[] {
  return [...SEED_KEYS, ...answer.extra.keys(), ...(answer.CODE === null ? [] : ['CODE'])]
}

describe('verified transfers on the server', () => {
  describe('SHA256, OFFSET/LENGTH, LONG listings', function () {
    this.timeout(60_000)
    let running: RunningServer

    beforeEach(async () => {
      running = await startServer({maxSize: 8 * 1024 * 1024})
    })

    afterEach(async () => {
      await running.stop()
    })

    it('answers a PUT and a GET with the SHA-256 of the bytes, computed as they streamed in', async () => {
      const data = png(3 * 1024 * 1024 + 5, 7)
      const put = await roundTrip(running.port, versioned('PUT', 'cat.png', data))
      expect(put.STATUS, String(put.DETAILS)).to.equal('OK')
      expect(put.extra.get('SHA256')).to.equal(sha256(data))
      const get = await roundTrip(running.port, versioned('GET', 'CAT.PNG', null))
      expect(get.extra.get('SHA256')).to.equal(sha256(data))
      expect(get.FILE_DATA).to.deep.equal(data)
    })

    for (const where of ['before', 'after'] as const) {
      it(`refuses a PUT whose SHA256 (${where} FILE_DATA) does not match, and publishes nothing`, async () => {
        const data = png(200_000, 3)
        const wrong = sha256(Buffer.concat([data, Buffer.from([0])]))
        const message =
          where === 'before'
            ? versioned('PUT', 'dog.png', data, {SHA256: wrong})
            : versioned('PUT', 'dog.png', data, {}, {SHA256: wrong})
        const answer = await roundTrip(running.port, message)
        expect(answer.STATUS).to.equal('ERROR')
        expect(answer.CODE).to.equal('E_DIGEST_MISMATCH')
        expect(String(answer.DETAILS)).to.include('nothing was stored')
        const get = await roundTrip(running.port, versioned('GET', 'dog.png', null))
        expect(get.CODE).to.equal('E_NOT_FOUND')
        expect(readdirSync(running.storage).filter((name) => !name.startsWith('.'))).to.deep.equal([])
      })

      it(`stores a PUT whose SHA256 (${where} FILE_DATA, any case) matches`, async () => {
        const data = png(70_000, 4)
        const digest = sha256(data).toUpperCase()
        const message =
          where === 'before'
            ? versioned('PUT', 'ok.png', data, {SHA256: digest})
            : versioned('PUT', 'ok.png', data, {}, {SHA256: digest})
        const answer = await roundTrip(running.port, message)
        expect(answer.STATUS, String(answer.DETAILS)).to.equal('OK')
        expect(answer.extra.get('SHA256')).to.equal(digest.toLowerCase())
      })
    }

    it('refuses a SHA256 that is not 64 hex digits (E_MALFORMED) before storing anything', async () => {
      const answer = await roundTrip(running.port, versioned('PUT', 'bad.png', png(1000), {SHA256: 'abc'}))
      expect(answer.CODE).to.equal('E_MALFORMED')
      expect(readdirSync(running.storage).filter((name) => !name.startsWith('.'))).to.deep.equal([])
    })

    it("gives a duplicate's ERROR the stored image's SHA256, for iss clients only", async () => {
      const data = png(5000, 9)
      expect((await roundTrip(running.port, versioned('PUT', 'twice.png', data))).STATUS).to.equal('OK')
      const again = await roundTrip(running.port, versioned('PUT', 'TWICE.png', png(6000, 10)))
      expect(again.CODE).to.equal('E_DUPLICATE')
      expect(again.extra.get('SHA256')).to.equal(sha256(data))
      const seed = await roundTrip(running.port, request('PUT', 'twice.png', png(6000, 10)))
      expect(seed.STATUS).to.equal('ERROR')
      expect(keysOf(seed)).to.deep.equal(SEED_KEYS)
    })

    it('sends part of an image from OFFSET (and LENGTH), echoing OFFSET, with the whole digest', async () => {
      const data = png(1_000_000, 11)
      await roundTrip(running.port, versioned('PUT', 'part.png', data))
      const rest = await roundTrip(running.port, versioned('GET', 'part.png', null, {OFFSET: 600_000n}))
      expect(rest.extra.get('OFFSET')).to.equal(600_000n)
      expect(rest.extra.get('SHA256')).to.equal(sha256(data))
      expect(rest.FILE_DATA).to.deep.equal(data.subarray(600_000))
      const slice = await roundTrip(running.port, versioned('GET', 'part.png', null, {OFFSET: 10n, LENGTH: 20n}))
      expect(slice.FILE_DATA).to.deep.equal(data.subarray(10, 30))
      const bad = await roundTrip(running.port, versioned('GET', 'part.png', null, {OFFSET: -1n}))
      expect(bad.CODE).to.equal('E_MALFORMED')
    })

    it('gives seed peers exactly the five keys for PUT, GET and LIST, whatever extension keys they send', async () => {
      const data = png(4000, 12)
      const withExtras = (message: OutgoingMessage): OutgoingMessage => ({
        ...message,
        extra: {SHA256: sha256(data), OFFSET: 100n, LONG: true, LIMIT: 1n},
      })
      const answers = [
        await roundTrip(running.port, withExtras(request('PUT', 'seed.png', data))),
        await roundTrip(running.port, withExtras(request('PUT', 'seed.png', data))),
        await roundTrip(running.port, withExtras(request('GET', 'seed.png'))),
        await roundTrip(running.port, withExtras(request('GET', 'missing.png'))),
        await roundTrip(running.port, withExtras(request('LIST'))),
      ]
      expect(answers.map((answer) => answer.STATUS)).to.deep.equal(['OK', 'ERROR', 'OK', 'ERROR', 'OK'])
      for (const answer of answers) expect(keysOf(answer)).to.deep.equal(SEED_KEYS)
      // The seed GET ignored OFFSET: the whole image.
      expect(answers[2].FILE_DATA).to.deep.equal(data)
      expect(answers[4].DETAILS).to.deep.equal(['seed.png'])
    })

    it('lists entries with LONG: name, size, time and digest', async () => {
      const data = png(12_345, 13)
      const before = Date.now()
      await roundTrip(running.port, versioned('PUT', 'long.png', data))
      const answer = await roundTrip(running.port, listRequest({LONG: true}))
      expect(listedNames(answer)).to.deep.equal(['long.png'])
      const [entry] = answer.extra.get('ENTRIES') as Array<Map<string, PickleValue>>
      expect(entry.get('NAME')).to.equal('long.png')
      expect(entry.get('SIZE')).to.equal(12_345n)
      expect(entry.get('SHA256')).to.equal(sha256(data))
      expect(entry.get('MODIFIED')).to.be.within(before / 1000 - 5, Date.now() / 1000 + 5)
    })
  })

  describe('digests of images the server did not receive itself', function () {
    this.timeout(60_000)
    let storage: string

    beforeEach(() => {
      storage = mkdtempSync(join(tmpdir(), 'iss-digest-'))
    })

    afterEach(() => {
      rmSync(storage, {recursive: true, force: true})
    })

    it('rebuilds the digest of an image copied in by hand, keeps it, and rebuilds it when the file changes', async () => {
      const first = png(50_000, 21)
      writeFileSync(join(storage, 'copied.png'), first)
      let running = await startServer({storage})
      try {
        const listed = await roundTrip(running.port, listRequest({LONG: true}))
        // A listing never hashes: no record yet.
        expect((listed.extra.get('ENTRIES') as Array<Map<string, PickleValue>>)[0].get('SHA256')).to.equal(null)
        const get = await roundTrip(running.port, versioned('GET', 'copied.png', null))
        expect(get.extra.get('SHA256')).to.equal(sha256(first))
        expect(readdirSync(join(storage, DIGEST_DIR))).to.have.length(1)
      } finally {
        await running.stop()
      }

      // Replaced by hand while the server was down: the old record no longer matches and is not used.
      const second = png(50_001, 22)
      writeFileSync(join(storage, 'copied.png'), second)
      running = await startServer({storage})
      try {
        const get = await roundTrip(running.port, versioned('GET', 'copied.png', null))
        expect(get.extra.get('SHA256')).to.equal(sha256(second))
        const listed = await roundTrip(running.port, listRequest({LONG: true}))
        expect((listed.extra.get('ENTRIES') as Array<Map<string, PickleValue>>)[0].get('SHA256')).to.equal(
          sha256(second),
        )
      } finally {
        await running.stop()
      }
    })

    it('keeps the digests of uploads across a restart without reading the images again', async () => {
      let running = await startServer({storage})
      const data = png(9000, 23)
      try {
        await roundTrip(running.port, versioned('PUT', 'kept.png', data))
      } finally {
        await running.stop()
      }

      expect(existsSync(join(storage, DIGEST_DIR))).to.equal(true)
      running = await startServer({storage})
      try {
        // A listing only reads records: the digest is there, so it was kept.
        const listed = await roundTrip(running.port, listRequest({LONG: true}))
        expect((listed.extra.get('ENTRIES') as Array<Map<string, PickleValue>>)[0].get('SHA256')).to.equal(sha256(data))
      } finally {
        await running.stop()
      }
    })

    it('pages a LONG listing of 10,000 names: every name once, in identity-key order', async () => {
      const COUNT = 10_000
      fillStore(storage, COUNT, 20)
      const running = await startServer({storage})
      try {
        const expected = Array.from({length: COUNT}, (_, i) => manyName(i, 20)).toSorted((a, b) =>
          compareCodePoints(identityKey(a), identityKey(b)),
        )
        const seen: string[] = []
        let after: string | undefined
        for (let pages = 0; pages < 100; pages++) {
          const answer = await roundTrip(
            running.port,
            listRequest(after === undefined ? {LONG: true, LIMIT: 5000n} : {LONG: true, AFTER: after, LIMIT: 5000n}),
          )
          const names = listedNames(answer)
          const entries = answer.extra.get('ENTRIES') as Array<Map<string, PickleValue>>
          expect(entries.map((entry) => entry.get('NAME'))).to.deep.equal(names)
          // A long page is capped at 1,000 entries.
          expect(names.length).to.be.at.most(1000)
          seen.push(...names)
          const next = answer.extra.get('NEXT')
          if (next === undefined) break
          after = next as string
        }

        expect(seen).to.deep.equal(expected)
      } finally {
        await running.stop()
      }
    })
  })
})
