/* eslint-disable mocha/no-top-level-hooks -- describeWithRgw() is describe() where Ceph RGW can run */
// Two s3 stores on one bucket prefix are two servers (nothing shared but the bucket): deletes,
// re-uploads, renames and sweeps racing each other on a real Ceph RGW.
import {DeleteObjectCommand, ListObjectsV2Command} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import type {Readable} from 'node:stream'
import pino from 'pino'

import {createS3Client} from '../../src/core/store/s3/client.js'
import s3Backend from '../../src/core/store/s3/s3-backend.js'
import type {S3Store} from '../../src/core/store/s3/s3-store.js'
import {describeWithRgw, type Rgw, rgw, RGW_START_TIMEOUT_MS, s3Url} from '../support/rgw.js'
import {fill, randomPng} from '../support/upload-data.js'

const quiet = pino({level: 'silent'})

/** A logger that keeps its lines, to check what the store reports. */
function recording(): {logger: pino.Logger; lines: Array<{level: number; msg: string}>} {
  const lines: Array<{level: number; msg: string}> = []
  const logger = pino(
    {level: 'info'},
    {
      write(line: string) {
        lines.push(JSON.parse(line) as {level: number; msg: string})
      },
    },
  )
  return {logger, lines}
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function put(store: S3Store, name: string, data: Buffer) {
  const upload = await store.spool(data.length)
  await fill(upload, data)
  return upload.commit(name)
}

describeWithRgw('s3 store: servers racing on one bucket (Ceph RGW)', function () {
  this.timeout(120_000)
  let where: Rgw
  const stores: S3Store[] = []

  before(async function () {
    this.timeout(RGW_START_TIMEOUT_MS)
    where = await rgw()
  })

  afterEach(async () => {
    await Promise.all(stores.splice(0).map(async (store) => store.close()))
  })

  /** Two servers' stores on one fresh prefix. */
  async function twoServers(
    grace = '1h',
    logger: pino.Logger = quiet,
    url = new URL(s3Url(where, {grace})),
  ): Promise<[S3Store, S3Store]> {
    const open = async () => {
      const store = (await s3Backend.create({
        url,
        options: Object.fromEntries(url.searchParams),
        env: process.env,
        maxSize: 16 * 1024 * 1024,
        logger,
      })) as S3Store
      await store.open()
      stores.push(store)
      return store
    }

    return [await open(), await open()]
  }

  it('a delete on one server racing a re-upload of the name on the other never loses the newer bytes', async () => {
    const [one, two] = await twoServers('2s')
    for (let round = 0; round < 4; round++) {
      const older = randomPng(20_000 + round)
      const newer = randomPng(30_000 + round)
      await put(one, 'contested.png', older)
      // The re-upload retries until the delete has let the name go (each try E_DUPLICATE before).
      const reupload = (async () => {
        for (let attempt = 0; attempt < 50; attempt++) {
          try {
            return await put(two, 'Contested.PNG', newer)
          } catch (error) {
            if ((error as {code?: string}).code !== 'E_DUPLICATE') throw error
          }
        }

        throw new Error('the re-upload never got the name')
      })()
      const [deleted, stored] = await Promise.all([one.delete('contested.png'), reupload])
      expect(deleted.size).to.equal(older.length)
      expect(stored.name).to.equal('Contested.PNG')
      // Sweeps with a grace period shorter than the race: the newer bytes stay, on both servers.
      await new Promise((resolve) => setTimeout(resolve, 2100))
      await Promise.all([one.sweep(), two.sweep()])
      for (const store of [one, two]) {
        const opened = await store.openRead('contested.png')
        expect(sha256(await readAll(opened.stream))).to.equal(sha256(newer))
      }

      await two.delete('contested.png')
    }
  })

  it('a renamed image keeps its bytes after the old name is deleted, reused and swept', async () => {
    const [one, two] = await twoServers('2s')
    const original = randomPng(50_000)
    await put(one, 'before.png', original)
    await two.rename('Before.png', 'after.png')
    // The old name is free again: upload other bytes under it and delete them.
    const other = randomPng(40_000)
    await put(one, 'before.png', other)
    await two.delete('before.png')
    await new Promise((resolve) => setTimeout(resolve, 2100))
    await Promise.all([one.sweep(), two.sweep()])
    const opened = await one.openRead('after.png')
    expect(opened.image.name).to.equal('after.png')
    expect(sha256(await readAll(opened.stream))).to.equal(sha256(original))
    expect(await one.stat('before.png')).to.equal(null)
    expect((await two.list()).map((image) => image.name)).to.deep.equal(['after.png'])
  })

  it('a claim whose blob is missing answers E_NOT_FOUND and logs an error; nothing repairs it', async () => {
    const {logger, lines} = recording()
    const url = new URL(s3Url(where))
    const [one, two] = await twoServers('1h', logger, url)
    await put(one, 'hollow.png', randomPng(10_000))
    const client = createS3Client({endpoint: where.endpoint, region: where.region})
    try {
      // The blob is removed behind the store's back (a person, a bucket lifecycle rule).
      const blobs = await client.send(
        new ListObjectsV2Command({
          Bucket: url.host,
          Prefix: `${url.pathname.slice(1)}/blobs/`,
        }),
      )
      expect(blobs.Contents).to.have.length(1)
      await client.send(new DeleteObjectCommand({Bucket: url.host, Key: blobs.Contents![0].Key}))
    } finally {
      client.destroy()
    }

    let code: string | undefined
    try {
      await two.openRead('HOLLOW.png')
    } catch (error) {
      code = (error as {code?: string}).code
    }

    expect(code).to.equal('E_NOT_FOUND')
    expect(lines.some((line) => line.level === 50 && line.msg.includes('a claim points at a missing blob'))).to.equal(
      true,
    )
    // Still claimed: not repaired, not removed; a delete clears it.
    expect(await two.stat('hollow.png')).to.include({name: 'hollow.png'})
    await one.delete('hollow.png')
    expect(await two.stat('hollow.png')).to.equal(null)
  })
})
