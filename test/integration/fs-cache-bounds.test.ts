// The fs store's read caches stay within their bounds: open handles by count, image bytes by size.
import {expect} from 'chai'
import {mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {HandleCache} from '../../src/core/store/fs-handle-cache.js'

/** Reads a whole file through the cache twice (the second read is warm), offering its bytes each time. */
async function readTwice(cache: HandleCache, name: string): Promise<Buffer> {
  let bytes = Buffer.alloc(0)
  for (let i = 0; i < 2; i++) {
    const lease = await cache.acquire(name)
    bytes = Buffer.alloc(lease.size)
    await lease.handle.read(bytes, 0, lease.size, 0)
    if (lease.isWarm) lease.remember(bytes)
    lease.release()
  }

  return bytes
}

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length
}

describe('fs store read caches: bounded', () => {
  let root: string
  let cache: HandleCache

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'iss-cache-bounds-'))
  })

  afterEach(() => {
    cache.stop()
    rmSync(root, {recursive: true, force: true})
  })

  it('keeps at most `capacity` open handles, and closes the ones it lets go', async () => {
    const before = openDescriptors()
    for (let i = 0; i < 12; i++) writeFileSync(join(root, `f${i}.png`), Buffer.alloc(1000, i))
    cache = new HandleCache(root, 3, 0)
    cache.start()
    for (let i = 0; i < 12; i++) {
      await readTwice(cache, `f${i}.png`)
      expect(cache.size).to.be.at.most(3)
    }

    expect(cache.size).to.equal(3)
    // Handles close in the background: give them a moment, then count (the watch holds one descriptor).
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(openDescriptors() - before).to.be.at.most(3 + 1)
  })

  it('keeps at most its memory budget of image bytes, each image at most 1/8 of it', async () => {
    // The files exist before the watch starts: the watch drops a name on every change to it.
    writeFileSync(join(root, 'big.png'), Buffer.alloc(9 * 1024, 1))
    for (let i = 0; i < 20; i++) writeFileSync(join(root, `s${i}.png`), Buffer.alloc(7 * 1024, i))
    cache = new HandleCache(root, 100, 64 * 1024)
    cache.start()
    await readTwice(cache, 'big.png')
    expect(cache.memoryBytes, 'an image over 1/8 of the budget is not kept').to.equal(0)
    for (let i = 0; i < 20; i++) {
      await readTwice(cache, `s${i}.png`)
      expect(cache.memoryBytes).to.be.at.most(64 * 1024)
    }

    expect(cache.memoryBytes).to.be.greaterThan(7 * 7 * 1024)
    const lease = await cache.acquire('s19.png')
    expect(lease.bytes?.equals(Buffer.alloc(7 * 1024, 19))).to.equal(true)
    lease.release()
  })
})
