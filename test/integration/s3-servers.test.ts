/* eslint-disable mocha/no-top-level-hooks -- describeWithRgw() is describe() where Ceph RGW can run */
// Several `iss serve` processes on one bucket of a real Ceph RGW: one winner per name across servers,
// nothing of a killed upload ever visible, memory flat for a large image.
import {ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {createS3Client} from '../../src/core/store/s3/client.js'
import {collect, spawnCli} from '../e2e/cli-harness.js'
import {describeWithRgw, type Rgw, rgw, RGW_START_TIMEOUT_MS, s3Url} from '../support/rgw.js'
import {peakRss, serve, type ServeProcess} from '../support/s3-serve.js'
import {eventually, png, RawClient, request, roundTrip} from './server-harness.js'

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Keys under `prefix` in the bucket (blobs or names), and multipart uploads not finished. */
async function bucketState(client: S3Client, url: string, under: string) {
  const location = new URL(url)
  const bucket = location.host
  const prefix = `${location.pathname.slice(1)}/${under}`
  const objects = await client.send(new ListObjectsV2Command({Bucket: bucket, Prefix: prefix}))
  const uploads = await client.send(new ListMultipartUploadsCommand({Bucket: bucket, Prefix: prefix}))
  return {keys: (objects.Contents ?? []).map((item) => item.Key!), uploads: uploads.Uploads?.length ?? 0}
}

describeWithRgw('s3 store: several iss serve processes on one bucket (Ceph RGW)', function () {
  this.timeout(180_000)
  let where: Rgw
  let client: S3Client
  const running: ServeProcess[] = []
  let dir: string

  before(async function () {
    this.timeout(RGW_START_TIMEOUT_MS)
    where = await rgw()
    client = createS3Client({endpoint: where.endpoint, region: where.region})
    dir = mkdtempSync(join(tmpdir(), 'iss-s3-servers-'))
  })

  after(() => {
    client?.destroy()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  afterEach(async () => {
    await Promise.all(running.splice(0).map(async (server) => server.stop()))
  })

  async function start(storage: string, args: string[] = []): Promise<ServeProcess> {
    const server = await serve(storage, args)
    running.push(server)
    return server
  }

  it('prints the endpoint, bucket and prefix at start, and never a secret', async () => {
    const storage = s3Url(where)
    const server = await start(storage)
    const {pathname} = new URL(storage)
    expect(server.output.stdout).to.include(`store: s3://iss-test${pathname} at ${where.endpoint}`)
    const all = server.output.stdout + server.output.stderr
    expect(all).not.to.include(process.env.AWS_SECRET_ACCESS_KEY!)
    expect(all).not.to.include(process.env.AWS_ACCESS_KEY_ID!)
  })

  it('an image PUT through one server is listed and served by the other', async () => {
    const storage = s3Url(where)
    const [one, two] = await Promise.all([start(storage), start(storage)])
    const data = png(150_000, 7)
    const put = await roundTrip(one.port, request('PUT', 'Shared.png', data, true))
    expect(put.STATUS, String(put.DETAILS)).to.equal('OK')
    const list = await roundTrip(two.port, request('LIST', null, null, true))
    expect(list.DETAILS).to.deep.equal(['Shared.png'])
    const get = await roundTrip(two.port, request('GET', 'shared.PNG', null, true))
    expect(get.STATUS).to.equal('OK')
    expect(get.FILENAME).to.equal('Shared.png')
    expect(sha256(get.FILE_DATA as Buffer)).to.equal(sha256(data))
    const again = await roundTrip(two.port, request('PUT', 'SHARED.png', png(100, 8), true))
    expect(again.CODE).to.equal('E_DUPLICATE')
  })

  it('20 concurrent PUTs of one name spread over both servers: exactly one OK, and the stored bytes are the winner’s', async () => {
    const storage = s3Url(where)
    const servers = await Promise.all([start(storage), start(storage)])
    const bodies = Array.from({length: 20}, (_, i) => png(40_000 + i * 997, 100 + i))
    const answers = await Promise.all(
      bodies.map(async (body, i) =>
        roundTrip(servers[i % 2].port, request('PUT', i % 3 ? 'race.png' : 'Race.PNG', body, true)),
      ),
    )
    const winners = answers.flatMap((answer, i) => (answer.STATUS === 'OK' ? [i] : []))
    expect(winners, JSON.stringify(answers.map((a) => a.CODE))).to.have.length(1)
    for (const [i, answer] of answers.entries()) if (i !== winners[0]) expect(answer.CODE).to.equal('E_DUPLICATE')
    for (const server of servers) {
      const get = await roundTrip(server.port, request('GET', 'race.png', null, true))
      expect(sha256(get.FILE_DATA as Buffer)).to.equal(sha256(bodies[winners[0]]))
    }

    // Every loser's blob was removed at once; only the winner's remains.
    expect((await bucketState(client, storage, 'blobs/')).keys).to.have.length(1)
  })

  it('kill -9 mid-upload of a 64 MiB image: no name visible, and the orphan is swept once past the grace period', async () => {
    const storage = s3Url(where, {grace: '30s'})
    const victim = await start(storage, ['--max-size', '128MiB'])
    const data = png(64 * 1024 * 1024, 9)
    const uploader = await RawClient.connect(victim.port)
    uploader.socket.on('error', () => undefined)
    uploader.send(request('PUT', 'killed.png', data, true))
    // Killed once the server has started the multipart upload (some parts are in the bucket).
    expect(await eventually(async () => (await bucketState(client, storage, 'blobs/')).uploads > 0, 60_000)).to.equal(
      true,
    )
    victim.child.kill('SIGKILL')
    uploader.close()
    const sweeper = await start(storage.replace('grace=30s', 'grace=2s'))
    const list = await roundTrip(sweeper.port, request('LIST', null, null, true))
    expect(list.DETAILS).to.equal('No files on server')
    const swept = await eventually(async () => {
      const state = await bucketState(client, storage, 'blobs/')
      return state.uploads === 0 && state.keys.length === 0
    }, 30_000)
    expect(swept, JSON.stringify(await bucketState(client, storage, 'blobs/'))).to.equal(true)
    expect((await roundTrip(sweeper.port, request('GET', 'killed.png', null, true))).CODE).to.equal('E_NOT_FOUND')
  })

  it('a 256 MiB PUT and GET through the s3 store: bytes identical, and the transfer adds under 64 MiB to the server’s peak RSS', async () => {
    const storage = s3Url(where)
    const server = await start(storage, ['--max-size', '300MiB'])
    const file = join(dir, 'big.png')
    const out = join(dir, 'back.png')
    const data = png(256 * 1024 * 1024, 11)
    writeFileSync(file, data)
    const digest = sha256(data)
    const idle = peakRss(server.child.pid!)
    const target = ['--host', '127.0.0.1', '--port', String(server.port)]
    const put = await collect(spawnCli(['put', file, ...target]), 170_000)
    expect(put.code, put.stderr).to.equal(0)
    const get = await collect(spawnCli(['get', 'big.png', '--output', out, ...target]), 170_000)
    expect(get.code, get.stderr).to.equal(0)
    expect(statSync(out).size).to.equal(data.length)
    expect(sha256(readFileSync(out))).to.equal(digest)
    const peak = peakRss(server.child.pid!)
    const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
    // The absolute goal (128 MiB) is reported, not asserted: see docs/scale-out.md, memory.
    console.log(`      server peak RSS: ${mib(idle)} MiB started, ${mib(peak)} MiB after a 256 MiB PUT and GET`)
    expect(peak - idle).to.be.below(64 * 1024 * 1024)
  })
})
