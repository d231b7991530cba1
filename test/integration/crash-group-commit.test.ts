// Group commit (uploads published together share one directory fsync) under kill -9: every upload
// that was answered OK survives whole, and nothing but whole uploads is ever visible.
import {expect} from 'chai'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {pngHead} from '../fixtures/images.js'
import {RawClient, request, roundTrip} from './server-harness.js'
import {type Child, startChild} from './server-process.js'

const BURST = 200
const ROUNDS = 3

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** PNG signature, then random bytes: a mix-up of two uploads cannot pass a digest check. */
function image(size: number): Buffer {
  const data = randomBytes(size)
  pngHead().copy(data)
  return data
}

function visible(dir: string): string[] {
  return readdirSync(dir).filter((name) => !name.startsWith('.'))
}

describe('crash consistency under group commit', function () {
  this.timeout(300_000)
  const cleanup: Array<() => void> = []

  afterEach(() => {
    for (const step of cleanup.splice(0).toReversed()) step()
  })

  it(`kill -9 during bursts of ${BURST} concurrent small PUTs: every OK survives intact, nothing else but whole uploads`, async () => {
    const storage = mkdtempSync(join(tmpdir(), 'iss-group-commit-'))
    cleanup.push(() => {
      rmSync(storage, {recursive: true, force: true})
    })
    const config = {storage, maxConnections: BURST + 16, maxSize: 1024 * 1024}
    const sent = new Map<string, string>()
    const answeredOk = new Set<string>()
    let killedMidBurst = 0
    for (let round = 0; round < ROUNDS; round++) {
      const server: Child = await startChild(config)
      cleanup.push(() => {
        server.process.kill('SIGKILL')
      })
      const uploads = Array.from({length: BURST}, (_, index) => {
        const data = image(20_000 + Math.floor(Math.random() * 80_000))
        return {name: `r${round}-${index}.png`, data}
      })
      for (const {name, data} of uploads) sent.set(name, sha256(data))
      // Kill once a random share of this burst has been answered (sometimes before any answer).
      const killAfter = Math.floor(Math.random() * BURST * 0.8)
      let answered = 0
      let isKilled = false
      const kill = () => {
        if (isKilled) return
        isKilled = true
        server.process.kill('SIGKILL')
      }

      if (killAfter === 0) setTimeout(kill, Math.random() * 50)
      await Promise.all(
        uploads.map(async ({name, data}) => {
          let client: RawClient
          try {
            client = await RawClient.connect(server.port)
          } catch {
            return
          }

          try {
            client.send(request('PUT', name, data, true))
            const answer = await client.read(60_000)
            if (answer.STATUS === 'OK') answeredOk.add(name)
            else expect.fail(`${name}: ${String(answer.CODE)} ${String(answer.DETAILS)}`)
            if (++answered >= killAfter) kill()
          } catch (error) {
            // Only the kill may cut an upload off.
            if (!isKilled) throw error
          } finally {
            client.close()
          }
        }),
      )
      kill()
      await server.exited
      if (answered < BURST) killedMidBurst++

      // After a restart: every OK is there, whole; whatever else is visible is a whole upload of ours.
      const restarted = await startChild(config)
      cleanup.push(() => {
        restarted.process.kill('SIGKILL')
      })
      const list = await roundTrip(restarted.port, request('LIST', null, null, true))
      const listed = Array.isArray(list.DETAILS) ? list.DETAILS : []
      for (const name of answeredOk) expect(listed, `${name} was answered OK`).to.include(name)
      for (const name of listed) {
        expect(sent.has(name), `${name} was never sent`).to.equal(true)
        const get = await roundTrip(restarted.port, request('GET', name, null, true))
        expect(get.STATUS, name).to.equal('OK')
        expect(sha256(get.FILE_DATA as Buffer), `${name} is intact`).to.equal(sent.get(name))
      }

      expect(visible(storage).sort()).to.deep.equal([...listed].sort())
      for (const name of visible(storage)) expect(sha256(readFileSync(join(storage, name)))).to.equal(sent.get(name))
      restarted.process.kill('SIGTERM')
      await restarted.exited
      const temp = join(storage, '.iss-tmp')
      expect(existsSync(temp) ? readdirSync(temp) : [], 'temporary files swept').to.deep.equal([])
    }

    // The kill must have landed inside at least one burst, or the test proved nothing.
    expect(killedMidBurst).to.be.greaterThan(0)
  })
})
