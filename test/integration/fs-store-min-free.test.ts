// Issue 18.7 through the server: --min-free holds for uploads under 1 MiB and under concurrency, on a
// real small disk (tmpfs), because each PUT reserves its announced size before a byte is stored.
import {expect} from 'chai'
import {readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {freeBytes} from '../../src/core/store/disk-space.js'
import {png, request, roundTrip, type RunningServer, startServer} from './server-harness.js'
import {Tmpfs} from '../support/tmpfs.js'

const MiB = 1024 * 1024

describe('--min-free through the server (real tmpfs)', function () {
  this.timeout(60_000)
  let running: RunningServer | null = null

  const tmpfs = new Tmpfs('iss-min-free-', 16 * 1024 * 1024)

  before(function () {
    tmpfs.mount(this)
  })

  after(() => {
    tmpfs.unmount()
  })

  afterEach(async () => {
    await running?.stop()
    running = null
    rmSync(join(tmpfs.mountPoint, 'store'), {recursive: true, force: true})
  })

  async function serve(minFree: number): Promise<{port: number; storage: string}> {
    const storage = join(tmpfs.mountPoint, 'store')
    running = await startServer({storage, maxSize: 4 * MiB, storageOptions: {minFree, fsync: false}})
    return {port: running.port, storage}
  }

  it('1,048,000-byte PUTs one after another stop at the floor, not at a full disk', async () => {
    const minFree = 8 * MiB
    const {port, storage} = await serve(minFree)
    const codes: string[] = []
    for (let i = 0; i < 16 && !codes.includes('E_NO_SPACE'); i++) {
      const answer = await roundTrip(port, request('PUT', `seq-${i}.png`, png(1_048_000, i), true))
      codes.push(answer.STATUS === 'OK' ? 'OK' : String(answer.CODE))
    }

    expect(codes.at(-1)).to.equal('E_NO_SPACE')
    expect(codes.filter((code) => code === 'OK').length).to.be.within(1, 8)
    expect(await freeBytes(storage)).to.be.at.least(minFree)
    expect(readdirSync(join(storage, '.iss-tmp'))).to.deep.equal([])
  })

  it('30 concurrent PUTs under 1 MiB never leave less than min-free; the rest are refused with E_NO_SPACE', async () => {
    const minFree = 8 * MiB
    const {port, storage} = await serve(minFree)
    const answers = await Promise.all(
      Array.from({length: 30}, async (_, i) =>
        roundTrip(port, request('PUT', `con-${i}.png`, png(1_000_000, i), true)),
      ),
    )
    const stored = answers.filter((answer) => answer.STATUS === 'OK').length
    expect(answers.filter((answer) => answer.STATUS !== 'OK').map((answer) => answer.CODE)).to.deep.equal(
      Array.from({length: 30 - stored}, () => 'E_NO_SPACE'),
    )
    expect(stored).to.be.within(1, 8)
    expect(await freeBytes(storage)).to.be.at.least(minFree)
  })
})
