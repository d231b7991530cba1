// The fs store keeps hot images' open files and bytes between GETs: a GET must never serve the bytes
// of an image that was deleted (DELETE of iss-plugin-delete) or replaced on disk by an admin.
import {expect} from 'chai'
import {readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {PluginRecord} from '../../src/core/discovery.js'
import {
  corePlugin,
  eventually,
  png,
  REPO_ROOT,
  request,
  roundTrip,
  type RunningServer,
  startServer,
} from './server-harness.js'

const DELETE_PLUGIN_ROOT = join(REPO_ROOT, 'plugins', 'iss-plugin-delete')

function deletePlugin(): PluginRecord {
  const pjson = JSON.parse(readFileSync(join(DELETE_PLUGIN_ROOT, 'package.json'), 'utf8'))
  return {name: pjson.name, root: DELETE_PLUGIN_ROOT, pjson, type: 'user'}
}

async function get(port: number, name: string): Promise<{code: unknown; data: Buffer | null}> {
  const answer = await roundTrip(port, request('GET', name, null, true))
  return {code: answer.CODE ?? answer.STATUS, data: Buffer.isBuffer(answer.FILE_DATA) ? answer.FILE_DATA : null}
}

async function put(port: number, name: string, data: Buffer): Promise<void> {
  const answer = await roundTrip(port, request('PUT', name, data, true))
  expect(answer.STATUS, String(answer.DETAILS)).to.equal('OK')
}

/** GETs enough times that the image is served from the open-file and memory caches. */
async function warm(port: number, name: string, data: Buffer): Promise<void> {
  for (let i = 0; i < 4; i++) expect((await get(port, name)).data?.equals(data)).to.equal(true)
}

/**
 * GETs `name` until `isNew` accepts the answer (bounded); every answer before must be the whole
 * previous version, and every answer after must stay new (the cache never flips back).
 */
async function settlesOn(
  port: number,
  name: string,
  previous: Buffer,
  isNew: (answer: {code: unknown; data: Buffer | null}) => boolean,
): Promise<void> {
  const seen: string[] = []
  const settled = await eventually(async () => {
    const answer = await get(port, name)
    if (isNew(answer)) return true
    seen.push(answer.data?.equals(previous) === true ? 'previous' : `other (${String(answer.code)})`)
    return false
  }, 5000)
  expect(settled, 'the new version was never served').to.equal(true)
  expect(
    seen.filter((s) => s !== 'previous'),
    'a mix of versions was served',
  ).to.deep.equal([])
  for (let i = 0; i < 5; i++) expect(isNew(await get(port, name))).to.equal(true)
}

describe('fs store read caches: never stale bytes', function () {
  this.timeout(60_000)
  let running: RunningServer

  beforeEach(async () => {
    running = await startServer(
      {storageOptions: {minFree: 0, fsync: false, cacheSize: 4 * 1024 * 1024}},
      {plugins: [corePlugin(), deletePlugin()]},
    )
  })

  afterEach(async () => {
    await running.stop()
  })

  it('a GET right after DELETE answers E_NOT_FOUND, and one after a new PUT of the name gets the new bytes', async () => {
    const first = png(150_000, 1)
    const second = png(90_000, 2)
    await put(running.port, 'cat.png', first)
    await warm(running.port, 'cat.png', first)
    const deleted = await roundTrip(running.port, request('DELETE', 'Cat.png', null, true))
    expect(deleted.STATUS, String(deleted.DETAILS)).to.equal('OK')
    expect((await get(running.port, 'cat.png')).code).to.equal('E_NOT_FOUND')
    await put(running.port, 'cat.png', second)
    const after = await get(running.port, 'cat.png')
    expect(after.data?.equals(second)).to.equal(true)
  })

  it('an image replaced by an admin with mv (a new file under the name) is served new', async () => {
    const first = png(120_000, 3)
    const second = png(130_000, 4)
    await put(running.port, 'dog.png', first)
    await warm(running.port, 'dog.png', first)
    const staged = join(running.storage, '.staged-by-admin')
    writeFileSync(staged, second)
    renameSync(staged, join(running.storage, 'dog.png'))
    await settlesOn(running.port, 'dog.png', first, (answer) => answer.data?.equals(second) === true)
  })

  it('an image rewritten in place by an admin (same file, same size) is served new', async () => {
    const first = png(100_000, 5)
    const second = png(100_000, 6)
    await put(running.port, 'owl.png', first)
    await warm(running.port, 'owl.png', first)
    writeFileSync(join(running.storage, 'owl.png'), second)
    await settlesOn(running.port, 'owl.png', first, (answer) => answer.data?.equals(second) === true)
  })

  it('an image removed by an admin with rm is no longer served', async () => {
    const first = png(80_000, 7)
    await put(running.port, 'bat.png', first)
    await warm(running.port, 'bat.png', first)
    rmSync(join(running.storage, 'bat.png'))
    await settlesOn(running.port, 'bat.png', first, (answer) => answer.code === 'E_NOT_FOUND')
  })
})
