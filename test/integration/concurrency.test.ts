// Concurrent clients on a live server: readers never see part of a file, and one identity has one winner.
// 50 concurrent PUTs of one name are in server-protocol.test.ts; store-level readers in fs-store.test.ts.
import {expect} from 'chai'
import {createHash, randomBytes} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {pngHead} from '../fixtures/images.js'
import {RawClient, request, type RunningServer, startServer} from './server-harness.js'

const MiB = 1024 * 1024

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function image(size: number): Buffer {
  const data = randomBytes(size)
  pngHead().copy(data)
  return data
}

/** A PUT sent in pieces, so that it is still arriving while readers run. */
async function slowPut(port: number, name: string, data: Buffer): Promise<string> {
  const client = await RawClient.connect(port)
  try {
    const frame = encodeFrame(request('PUT', name, data, true), {protocol: 4})
    for (let at = 0; at < frame.length; at += 64 * 1024) {
      await client.write(frame.subarray(at, at + 64 * 1024))
      await new Promise((resolve) => setTimeout(resolve, 1))
    }

    const answer = await client.read(30_000)
    return answer.STATUS === 'OK' ? 'OK' : String(answer.CODE)
  } finally {
    client.close()
  }
}

describe('concurrency on a live server', function () {
  this.timeout(120_000)
  let running: RunningServer

  beforeEach(async () => {
    running = await startServer({maxSize: 8 * MiB, storageOptions: {minFree: 0, fsync: true}, maxConnections: 256})
  })

  afterEach(async () => {
    await running.stop()
  })

  it('GETs and LISTs during PUTs see nothing or a whole file, and each name has exactly one winner', async () => {
    const names = Array.from({length: 8}, (_, i) => `race-${i}.png`)
    // Four competing uploads per name (two spellings of the identity), 0.5 to 2 MiB each.
    const uploads = new Map<string, Buffer[]>(
      names.map((name) => [name, Array.from({length: 4}, (_, k) => image(MiB / 2 + k * 500_000))]),
    )
    const hashes = new Map([...uploads].map(([name, list]) => [name, new Set(list.map(sha256))]))
    const seen = new Map<string, Set<string>>(names.map((name) => [name, new Set()]))
    let isDone = false
    let gets = 0
    let misses = 0
    let lists = 0
    const problems: string[] = []

    // Readers: one connection each, many requests per connection, until the PUTs are over.
    const getter = async (index: number) => {
      const client = await RawClient.connect(running.port)
      const deadline = Date.now() + 60_000
      try {
        // eslint-disable-next-line no-unmodified-loop-condition -- the PUT task sets isDone while this one awaits
        while (!isDone && Date.now() < deadline) {
          const name = names[(index + gets) % names.length]
          client.send(request('GET', index % 2 === 0 ? name : name.toUpperCase(), null, true))
          const answer = await client.read(30_000)
          if (answer.STATUS === 'OK') {
            const hash = sha256(answer.FILE_DATA as Buffer)
            if (!hashes.get(name)!.has(hash))
              problems.push(`GET ${name}: ${(answer.FILE_DATA as Buffer).length} bytes of no upload`)
            seen.get(name)!.add(hash)
            gets++
          } else if (answer.CODE === 'E_NOT_FOUND') misses++
          else problems.push(`GET ${name}: ${answer.CODE} ${String(answer.DETAILS)}`)
        }
      } finally {
        client.close()
      }
    }

    const lister = async () => {
      const client = await RawClient.connect(running.port)
      const deadline = Date.now() + 60_000
      try {
        // eslint-disable-next-line no-unmodified-loop-condition -- the PUT task sets isDone while this one awaits
        while (!isDone && Date.now() < deadline) {
          client.send(request('LIST', null, null, true))
          const list = await client.read(30_000)
          lists++
          const listed = Array.isArray(list.DETAILS) ? list.DETAILS : []
          // Whatever LIST shows must be whole when fetched right after.
          for (const name of listed.slice(0, 2)) {
            client.send(request('GET', name, null, true))
            const answer = await client.read(30_000)
            if (answer.STATUS !== 'OK') problems.push(`LIST showed ${name} but GET said ${answer.CODE}`)
            else if (!hashes.get(name.toLowerCase())?.has(sha256(answer.FILE_DATA as Buffer)))
              problems.push(`LIST showed ${name}; GET gave bytes of no upload`)
          }
        }
      } finally {
        client.close()
      }
    }

    const readers = [...Array.from({length: 4}, async (_, i) => getter(i)), lister(), lister()]
    const results = await Promise.all(
      [...uploads].flatMap(([name, list]) =>
        list.map(async (data, k) => ({
          name,
          data,
          result: await slowPut(running.port, k % 2 === 0 ? name : name.toUpperCase(), data),
        })),
      ),
    )
    // Keep reading a moment after the last publish.
    await new Promise((resolve) => setTimeout(resolve, 100))
    isDone = true
    await Promise.all(readers)

    console.log(`      ${results.length} PUTs, ${gets} whole GETs, ${misses} not-yet-there, ${lists} LISTs`)
    expect(problems).to.deep.equal([])
    for (const name of names) {
      const mine = results.filter((r) => r.name === name)
      const winners = mine.filter((r) => r.result === 'OK')
      expect(winners, name).to.have.length(1)
      expect(mine.filter((r) => r.result !== 'OK').map((r) => r.result)).to.deep.equal([
        'E_DUPLICATE',
        'E_DUPLICATE',
        'E_DUPLICATE',
      ])
      // Every GET that answered OK saw the winner, whole.
      const winner = sha256(winners[0].data)
      expect(
        [...seen.get(name)!].every((hash) => hash === winner),
        `${name}: GETs saw only the winner`,
      ).to.equal(true)
      const stored = readdirSync(running.storage).filter((n) => n.toLowerCase() === name)
      expect(stored, name).to.have.length(1)
      expect(sha256(readFileSync(join(running.storage, stored[0])))).to.equal(winner)
    }

    expect(gets).to.be.greaterThan(0)
    expect(lists).to.be.greaterThan(0)
    expect(readdirSync(join(running.storage, '.iss-tmp'))).to.deep.equal([])
  })
})
