import {expect} from 'chai'
import {readdirSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {ErrorCode, isIssError} from '../../src/core/errors.js'
import {freeBytes} from '../../src/core/store/disk-space.js'
import {FsStore, TEMP_DIR} from '../../src/core/store/fs-store.js'
import {codeOf} from '../support/error-code.js'
import {Tmpfs} from '../support/tmpfs.js'
import {fill, randomPng} from '../support/upload-data.js'

const MiB = 1024 * 1024
const TMPFS_SIZE = 8 * MiB

function visible(root: string): string[] {
  return readdirSync(root).filter((name) => !name.startsWith('.'))
}

describe('FsStore on a full disk (real tmpfs)', function () {
  this.timeout(60_000)
  let openedStore: FsStore | null = null

  const tmpfs = new Tmpfs('iss-fs-full-', TMPFS_SIZE)

  before(function () {
    tmpfs.mount(this)
  })

  after(() => {
    tmpfs.unmount()
  })

  afterEach(async () => {
    await openedStore?.close()
    openedStore = null
    rmSync(join(tmpfs.mountPoint, 'store'), {recursive: true, force: true})
  })

  async function openStore(minFree = 0): Promise<{store: FsStore; root: string}> {
    const root = join(tmpfs.mountPoint, 'store')
    openedStore = new FsStore({root, minFree})
    await openedStore.open()
    return {store: openedStore, root}
  }

  it('answers E_NO_SPACE for an upload bigger than the disk, leaves nothing, and stores a small one after', async () => {
    const {store, root} = await openStore()
    const upload = await store.spool()
    const writeError = await fill(upload, randomPng(TMPFS_SIZE + MiB))
    expect(isIssError(writeError) && writeError.code).to.equal(ErrorCode.NO_SPACE)
    expect(await codeOf(upload.commit('huge.png'))).to.equal(ErrorCode.NO_SPACE)
    expect(upload.bytesWritten).to.be.lessThan(TMPFS_SIZE)
    expect(visible(root)).to.deep.equal([])
    expect(readdirSync(join(root, TEMP_DIR))).to.deep.equal([])
    expect(await store.list()).to.deep.equal([])
    expect(await freeBytes(root)).to.be.greaterThan(TMPFS_SIZE - MiB)

    const small = randomPng(100_000)
    const stored = await (async () => {
      const next = await store.spool(small.length)
      await fill(next, small)
      return next.commit('small.png')
    })()
    expect(stored.size).to.equal(small.length)
    expect(readFileSync(join(root, 'small.png'))).to.deep.equal(small)
  })

  it('stores again once space is freed by a delete', async () => {
    const {store, root} = await openStore()
    const big = randomPng(5 * MiB)
    const first = await store.spool()
    await fill(first, big)
    await first.commit('big.png')

    const second = await store.spool()
    await fill(second, randomPng(4 * MiB))
    expect(await codeOf(second.commit('second.png'))).to.equal(ErrorCode.NO_SPACE)
    expect(visible(root)).to.deep.equal(['big.png'])
    expect(readdirSync(join(root, TEMP_DIR))).to.deep.equal([])
    expect(readFileSync(join(root, 'big.png'))).to.deep.equal(big)

    await store.delete('big.png')
    const again = randomPng(4 * MiB)
    const third = await store.spool()
    await fill(third, again)
    expect((await third.commit('second.png')).size).to.equal(again.length)
    expect(visible(root)).to.deep.equal(['second.png'])
  })

  it('refuses at once an announced size that would break the free-space floor', async () => {
    const {store, root} = await openStore(6 * MiB)
    expect(await codeOf(store.spool(3 * MiB))).to.equal(ErrorCode.NO_SPACE)
    expect(readdirSync(join(root, TEMP_DIR))).to.deep.equal([])
    const ok = await store.spool(MiB)
    await fill(ok, randomPng(MiB))
    expect((await ok.commit('fits.png')).size).to.equal(MiB)
  })

  it('stops an upload of unknown size when it crosses the free-space floor', async () => {
    const {store, root} = await openStore(6 * MiB)
    const upload = await store.spool()
    const error = await fill(upload, randomPng(4 * MiB))
    expect(isIssError(error) && error.code).to.equal(ErrorCode.NO_SPACE)
    expect((error as Error).message).to.match(/less than 6291456 bytes free/)
    expect(upload.bytesWritten).to.be.lessThan(4 * MiB)
    expect(await codeOf(upload.commit('floor.png'))).to.equal(ErrorCode.NO_SPACE)
    expect(visible(root)).to.deep.equal([])
    expect(readdirSync(join(root, TEMP_DIR))).to.deep.equal([])
  })
})
