import {expect} from 'chai'
import {type ChildProcess, spawn} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {extname, join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {ErrorCode, isIssError} from '../../src/core/errors.js'
import {FsStore, StoreLockedError, TEMP_DIR} from '../../src/core/store/fs-store.js'
import type {Upload} from '../../src/core/store/store.js'
import {LOCK_FILE, processStartTime} from '../../src/core/store/store-lock.js'
import {HEAD_BYTES} from '../../src/core/store/temp-file-sink.js'
import {codeOf} from '../support/error-code.js'

const PNG = Buffer.from('89504e470d0a1a0a', 'hex')
const JPEG = Buffer.from('ffd8ffe0', 'hex')

function image(size: number, magic = PNG): Buffer {
  const data = randomBytes(size)
  magic.copy(data)
  return data
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Streams `data` into the upload in chunks; returns the write error, if any. */
async function fill(upload: Upload, data: Buffer, chunkSize = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize))
  try {
    await pipeline(Readable.from(chunks), upload.sink)
    return null
  } catch (error) {
    return error
  }
}

async function put(store: FsStore, name: string, data: Buffer, expectedSize?: number) {
  const upload = await store.spool(expectedSize)
  await fill(upload, data)
  return upload.commit(name)
}

function tempFiles(root: string): string[] {
  return readdirSync(join(root, TEMP_DIR))
}

function childScript(): {command: string; args: string[]} {
  const ext = extname(__filename)
  const script = join(__dirname, `fs-store-child${ext}`)
  const loader = ext === '.ts' ? ['--require', require.resolve('tsx/cjs')] : []
  return {command: process.execPath, args: [...loader, script]}
}

function spawnChild(mode: string, root: string): ChildProcess {
  const {command, args} = childScript()
  return spawn(command, [...args, mode, root], {stdio: ['ignore', 'pipe', 'inherit']})
}

/** Resolves with the first stdout line matching `pattern`; bounded by `timeoutMs`. */
async function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => {
      reject(new Error(`child said ${JSON.stringify(seen)}, not ${pattern}`))
    }, timeoutMs)
    child.stdout!.on('data', (data: Buffer) => {
      seen += data.toString()
      const line = seen.split('\n').find((l) => pattern.test(l))
      if (line !== undefined) {
        clearTimeout(timer)
        resolve(line)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`child exited with ${code} before ${pattern}; said ${JSON.stringify(seen)}`))
    })
  })
}

async function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve()
      return
    }
    child.once('exit', () => {
      resolve()
    })
    child.kill('SIGKILL')
  })
}

describe('FsStore', function () {
  this.timeout(60_000)
  let base: string
  let root: string
  let stores: FsStore[]

  function makeStore(options: Partial<ConstructorParameters<typeof FsStore>[0]> = {}): FsStore {
    const store = new FsStore({root, ...options})
    stores.push(store)
    return store
  }

  async function openStore(options: Partial<ConstructorParameters<typeof FsStore>[0]> = {}): Promise<FsStore> {
    const store = makeStore(options)
    await store.open()
    return store
  }

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'iss-fs-store-'))
    root = join(base, 'store')
    stores = []
  })

  afterEach(async () => {
    for (const store of stores) await store.close()
    rmSync(base, {recursive: true, force: true})
  })

  describe('put, get, list, stat, delete', () => {
    it('creates the store with a private temp folder and describes it', async () => {
      const store = await openStore()
      expect(existsSync(join(root, TEMP_DIR))).to.equal(true)
      expect(readdirSync(root).sort()).to.deep.equal([LOCK_FILE, TEMP_DIR].sort())
      expect(statSync(join(root, TEMP_DIR)).mode & 0o777).to.equal(0o700)
      expect(store.describe()).to.equal(root)
    })

    it('stores, reads back, lists, stats and deletes an image', async () => {
      const store = await openStore()
      const data = image(300_000)
      const upload = await store.spool(data.length)
      await fill(upload, data)
      expect(upload.bytesWritten).to.equal(data.length)
      expect(upload.head()).to.deep.equal(data.subarray(0, HEAD_BYTES))
      const stored = await upload.commit('Photo.PNG')
      expect(stored.name).to.equal('Photo.PNG')
      expect(stored.size).to.equal(data.length)
      expect(readFileSync(join(root, 'Photo.PNG'))).to.deep.equal(data)
      expect(tempFiles(root)).to.deep.equal([])

      const opened = await store.openRead('photo.png')
      expect(opened.image.name).to.equal('Photo.PNG')
      expect(opened.image.size).to.equal(data.length)
      expect(sha256(await readAll(opened.stream))).to.equal(sha256(data))

      expect((await store.list()).map((i) => i.name)).to.deep.equal(['Photo.PNG'])
      expect((await store.stat('PHOTO.png'))?.size).to.equal(data.length)
      expect(await store.stat('other.png')).to.equal(null)

      const removed = await store.delete('photo.PNG')
      expect(removed.name).to.equal('Photo.PNG')
      expect(existsSync(join(root, 'Photo.PNG'))).to.equal(false)
      expect(await store.list()).to.deep.equal([])
      expect(await codeOf(store.openRead('Photo.PNG'))).to.equal(ErrorCode.NOT_FOUND)
      expect(await codeOf(store.delete('Photo.PNG'))).to.equal(ErrorCode.NOT_FOUND)
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('keeps the index across a restart', async () => {
      const first = await openStore()
      const a = image(1000)
      const b = image(2000, JPEG)
      await put(first, 'a.png', a)
      await put(first, 'B.jpg', b)
      await first.close()
      const second = await openStore()
      expect((await second.list()).map((i) => [i.name, i.size])).to.deep.equal([
        ['a.png', 1000],
        ['B.jpg', 2000],
      ])
      expect(await readAll((await second.openRead('b.JPG')).stream)).to.deep.equal(b)
    })

    it('refuses a duplicate by identity key and keeps the first case', async () => {
      const store = await openStore()
      const first = image(1000, JPEG)
      await put(store, 'Cat.jpg', first)
      let error: unknown
      try {
        await put(store, 'cat.JPG', image(500, JPEG))
      } catch (error_) {
        error = error_
      }

      expect(isIssError(error) && error.code).to.equal(ErrorCode.DUPLICATE)
      expect((error as Error).message).to.equal("File 'Cat.jpg' already exists on server")
      expect((await store.stat('CAT.jpg'))?.name).to.equal('Cat.jpg')
      expect(await readAll((await store.openRead('cAt.jPg')).stream)).to.deep.equal(first)
      expect(readdirSync(root).filter((n) => !n.startsWith('.'))).to.deep.equal(['Cat.jpg'])
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('stores the NFC form and finds it by either form', async () => {
      const store = await openStore()
      await put(store, 'cafe\u{301}.png', image(100))
      expect((await store.list()).map((i) => i.name)).to.deep.equal(['caf\u{E9}.png'])
      expect(existsSync(join(root, 'caf\u{E9}.png'))).to.equal(true)
      const opened = await store.openRead('CAFE\u{301}.PNG')
      opened.stream.destroy()
      expect(opened.image.name).to.equal('caf\u{E9}.png')
      expect(await codeOf(put(store, 'CAF\u{C9}.png', image(100)))).to.equal(ErrorCode.DUPLICATE)
    })

    it('lists sorted by identity key in code point order', async () => {
      const store = await openStore()
      const names = ['b.png', 'A.png', 'c.jpg', '\u{C4}.png', '\u{1F600}.png', '\u{FF21}.png', 'a1.png', 'B0.jpeg']
      for (const name of names) await put(store, name, image(64))
      const expected = ['A.png', 'a1.png', 'b.png', 'B0.jpeg', 'c.jpg', '\u{C4}.png', '\u{FF21}.png', '\u{1F600}.png']
      expect((await store.list()).map((i) => i.name)).to.deep.equal(expected)
      await store.delete('b.PNG')
      expect((await store.list()).map((i) => i.name)).to.deep.equal(expected.filter((n) => n !== 'b.png'))
    })

    it('re-validates names at commit and removes the temporary file', async () => {
      const store = await openStore()
      for (const [name, code] of [
        ['../evil.png', ErrorCode.BAD_NAME],
        ['x.gif', ErrorCode.UNSUPPORTED_TYPE],
        ['.iss-lock.png', ErrorCode.BAD_NAME],
      ] as const) {
        const upload = await store.spool()
        await fill(upload, image(100))
        expect(await codeOf(upload.commit(name)), name).to.equal(code)
      }

      expect(existsSync(join(base, 'evil.png'))).to.equal(false)
      expect(tempFiles(root)).to.deep.equal([])
      expect(await store.list()).to.deep.equal([])
    })

    it('refuses an empty upload', async () => {
      const store = await openStore()
      const upload = await store.spool()
      expect(await codeOf(upload.commit('empty.png'))).to.equal(ErrorCode.EMPTY)
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('aborts idempotently, leaving nothing behind', async () => {
      const store = await openStore()
      const upload = await store.spool()
      upload.sink.write(image(1000))
      expect(tempFiles(root)).to.have.length(1)
      await upload.abort()
      await upload.abort()
      expect(tempFiles(root)).to.deep.equal([])
      expect(await codeOf(upload.commit('late.png'))).to.equal(ErrorCode.INTERNAL)
      expect(await store.list()).to.deep.equal([])
    })

    it('commits an upload whose sink the caller already ended and saw finish', async () => {
      const store = await openStore()
      const data = image(70_000)
      const upload = await store.spool()
      upload.sink.end(data)
      await new Promise((resolve) => upload.sink.once('finish', resolve))
      expect((await upload.commit('ended.png')).size).to.equal(data.length)
      expect(readFileSync(join(root, 'ended.png'))).to.deep.equal(data)
    })

    it('a reader that opened an image keeps the whole file after it is deleted', async () => {
      const store = await openStore()
      const data = image(2 * 1024 * 1024)
      await put(store, 'gone.png', data)
      const opened = await store.openRead('gone.png')
      await store.delete('gone.png')
      expect(await store.list()).to.deep.equal([])
      expect(sha256(await readAll(opened.stream))).to.equal(sha256(data))
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('does not crash when the caller keeps writing after a failure', async () => {
      const store = await openStore({maxSize: 1000})
      const upload = await store.spool()
      upload.sink.write(image(2000))
      await new Promise((resolve) => setTimeout(resolve, 20))
      upload.sink.write(image(10))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(await codeOf(upload.commit('after.png'))).to.equal(ErrorCode.TOO_LARGE)
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('enforces maxSize when announced and while streaming', async () => {
      const store = await openStore({maxSize: 10_000})
      expect(await codeOf(store.spool(10_001))).to.equal(ErrorCode.TOO_LARGE)
      const upload = await store.spool()
      const error = await fill(upload, image(20_000), 4096)
      expect(isIssError(error) && error.code).to.equal(ErrorCode.TOO_LARGE)
      expect(await codeOf(upload.commit('big.png'))).to.equal(ErrorCode.TOO_LARGE)
      expect(tempFiles(root)).to.deep.equal([])
      expect((await put(store, 'ok.png', image(10_000))).size).to.equal(10_000)
    })

    it('refuses an upload whose announced size would break the free-space floor, before creating anything', async () => {
      const store = await openStore({minFree: Number.MAX_SAFE_INTEGER / 2})
      expect(await codeOf(store.spool(1))).to.equal(ErrorCode.NO_SPACE)
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('removes open uploads when closed', async () => {
      const store = await openStore()
      const upload = await store.spool()
      upload.sink.write(image(1000))
      await new Promise((resolve) => setTimeout(resolve, 20))
      await store.close()
      expect(tempFiles(root)).to.deep.equal([])
      expect(existsSync(join(root, LOCK_FILE))).to.equal(false)
      expect(await codeOf(store.list())).to.equal(ErrorCode.INTERNAL)
    })
  })

  describe('concurrency', () => {
    it('of 50 concurrent uploads of one name, exactly one wins and is stored intact', async () => {
      const store = await openStore()
      const uploads = Array.from({length: 50}, (_, i) => image(64 * 1024 + i * 997))
      const names = uploads.map((_, i) => (i % 3 === 0 ? 'same.png' : i % 3 === 1 ? 'SAME.png' : 'Same.PNG'))
      const results = await Promise.allSettled(uploads.map(async (data, i) => put(store, names[i], data)))
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []))
      expect(won).to.have.length(1)
      for (const r of results) {
        if (r.status === 'rejected') expect(isIssError(r.reason) && r.reason.code).to.equal(ErrorCode.DUPLICATE)
      }

      const winner = won[0]
      const onDisk = readdirSync(root).filter((n) => !n.startsWith('.'))
      expect(onDisk).to.deep.equal([names[winner]])
      expect(sha256(readFileSync(join(root, names[winner])))).to.equal(sha256(uploads[winner]))
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('readers during commits see nothing or a whole upload', async () => {
      const store = await openStore()
      const uploads = Array.from({length: 20}, () => image(512 * 1024))
      const hashes = new Set(uploads.map(sha256))
      let isDone = false
      let reads = 0
      let misses = 0
      const reader = (async () => {
        const deadline = Date.now() + 20_000
        // eslint-disable-next-line no-unmodified-loop-condition -- the writer sets isDone while this one awaits
        while (!isDone && Date.now() < deadline) {
          try {
            const opened = await store.openRead('race.png')
            const data = await readAll(opened.stream)
            expect(data.length).to.equal(opened.image.size)
            expect(hashes.has(sha256(data)), 'a whole upload').to.equal(true)
            reads++
          } catch (error) {
            if (!isIssError(error) || error.code !== ErrorCode.NOT_FOUND) throw error
            misses++
          }

          await new Promise((resolve) => setImmediate(resolve))
        }
      })()
      const results = await Promise.allSettled(uploads.map(async (data) => put(store, 'race.png', data)))
      // Keep reading a little after the winner is published.
      await new Promise((resolve) => setTimeout(resolve, 50))
      isDone = true
      await reader
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1)
      expect(reads).to.be.greaterThan(0)
      expect(reads + misses).to.be.greaterThan(1)
    })
  })

  describe('symbolic links', () => {
    it('neither lists nor opens a link placed in the store', async () => {
      mkdirSync(root, {recursive: true})
      const outside = join(base, 'secret.png')
      writeFileSync(outside, image(100))
      symlinkSync(outside, join(root, 'link.png'))
      mkdirSync(join(root, 'folder.png'))
      writeFileSync(join(root, '.hidden.png'), image(10))
      writeFileSync(join(root, 'notes.txt'), 'x')
      writeFileSync(join(root, 'real.png'), image(10))
      const store = await openStore()
      expect((await store.list()).map((i) => i.name)).to.deep.equal(['real.png'])
      expect(await codeOf(store.openRead('link.png'))).to.equal(ErrorCode.NOT_FOUND)
      expect(await codeOf(store.openRead('folder.png'))).to.equal(ErrorCode.NOT_FOUND)
      expect(await codeOf(store.openRead('.hidden.png'))).to.equal(ErrorCode.NOT_FOUND)
    })

    it('does not follow a link that replaced a stored file', async () => {
      const store = await openStore()
      await put(store, 'swap.png', image(100))
      const outside = join(base, 'secret.png')
      writeFileSync(outside, 'secret')
      rmSync(join(root, 'swap.png'))
      symlinkSync(outside, join(root, 'swap.png'))
      expect(await codeOf(store.openRead('swap.png'))).to.equal(ErrorCode.NOT_FOUND)
    })

    it('does not write through a link at the target name', async () => {
      mkdirSync(root, {recursive: true})
      const outside = join(base, 'written-through.png')
      symlinkSync(outside, join(root, 'trap.png'))
      const store = await openStore()
      expect(await codeOf(put(store, 'trap.png', image(100)))).to.equal(ErrorCode.DUPLICATE)
      expect(existsSync(outside)).to.equal(false)
      expect(tempFiles(root)).to.deep.equal([])
    })

    it('replaces a temp folder that is a link, without touching its target', async () => {
      mkdirSync(root, {recursive: true})
      const elsewhere = join(base, 'elsewhere')
      mkdirSync(elsewhere)
      writeFileSync(join(elsewhere, 'keep.part'), 'keep')
      symlinkSync(elsewhere, join(root, TEMP_DIR))
      const store = await openStore()
      expect(readFileSync(join(elsewhere, 'keep.part'), 'utf8')).to.equal('keep')
      await put(store, 'a.png', image(100))
      expect(readdirSync(elsewhere)).to.deep.equal(['keep.part'])
    })

    it('accepts a store root given as a link and resolves it', async () => {
      const real = join(base, 'real-store')
      mkdirSync(real)
      const linked = join(base, 'linked-store')
      symlinkSync(real, linked)
      const store = new FsStore({root: linked})
      stores.push(store)
      await store.open()
      expect(store.describe()).to.equal(real)
      await put(store, 'a.png', image(100))
      expect(existsSync(join(real, 'a.png'))).to.equal(true)
    })
  })

  describe('lock', () => {
    it('refuses a second store object on the same root with a clear message', async () => {
      await openStore()
      let error: unknown
      try {
        await openStore()
      } catch (error_) {
        error = error_
      }

      expect(error).to.be.instanceOf(StoreLockedError)
      expect((error as Error).message).to.equal(`store ${root} is in use by another iss serve (pid ${process.pid})`)
    })

    it('refuses a store held by another process, and takes it once that process is killed', async () => {
      mkdirSync(root, {recursive: true})
      const child = spawnChild('hold', root)
      try {
        const line = await waitForLine(child, /^READY \d+/)
        const pid = Number(line.split(' ', 2)[1])
        expect(pid).to.equal(child.pid)
        let error: unknown
        try {
          await openStore()
        } catch (error_) {
          error = error_
        }

        expect((error as Error).message).to.equal(`store ${root} is in use by another iss serve (pid ${pid})`)
      } finally {
        await killHard(child)
      }

      const store = await openStore()
      expect(JSON.parse(readFileSync(join(root, LOCK_FILE), 'utf8')).pid).to.equal(process.pid)
      await store.close()
      expect(existsSync(join(root, LOCK_FILE))).to.equal(false)
    })

    it('is not blocked by a lock whose pid is dead', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {stdio: 'ignore'})
      const deadPid = child.pid!
      await killHard(child)
      mkdirSync(root, {recursive: true})
      writeFileSync(join(root, LOCK_FILE), JSON.stringify({pid: deadPid, startTime: null, host: hostname()}))
      const store = await openStore()
      expect(JSON.parse(readFileSync(join(root, LOCK_FILE), 'utf8')).pid).to.equal(process.pid)
      expect(store.describe()).to.equal(root)
    })

    it('is not blocked by a reused pid (start time differs), nor by an unreadable lock', async () => {
      mkdirSync(root, {recursive: true})
      // pid 1 is alive, but it did not start at tick 1 after boot... unless it did; then use -1.
      writeFileSync(join(root, LOCK_FILE), JSON.stringify({pid: 1, startTime: 123_456_789_012, host: hostname()}))
      const first = await openStore()
      await first.close()
      writeFileSync(join(root, LOCK_FILE), 'garbage')
      const second = await openStore()
      await second.close()
    })

    it('stays blocked by a live pid with a matching start time', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {stdio: 'ignore'})
      try {
        await new Promise((resolve) => child.once('spawn', resolve))
        const startTime = await processStartTime(child.pid!)
        mkdirSync(root, {recursive: true})
        writeFileSync(join(root, LOCK_FILE), JSON.stringify({pid: child.pid, startTime, host: hostname()}))
        expect(
          await openStore()
            .then(() => 'opened')
            .catch((error: unknown) => (error as Error).message),
        ).to.equal(`store ${root} is in use by another iss serve (pid ${child.pid})`)
      } finally {
        await killHard(child)
      }
    })
  })

  describe('crash consistency', () => {
    it('sweeps temporary files at open', async () => {
      mkdirSync(join(root, TEMP_DIR), {recursive: true})
      writeFileSync(join(root, TEMP_DIR, 'left.part'), image(1000))
      mkdirSync(join(root, TEMP_DIR, 'odd-dir'))
      await openStore()
      expect(tempFiles(root)).to.deep.equal([])
    })

    for (let round = 1; round <= 3; round++) {
      it(`a process killed mid-upload leaves no partial file, and earlier files intact (round ${round})`, async () => {
        const before = await openStore()
        const earlier = new Map<string, string>()
        for (const name of ['one.png', 'two.jpg', 'three.jpeg']) {
          const data = image(100_000 + round, name.endsWith('png') ? PNG : JPEG)
          await put(before, name, data)
          earlier.set(name, sha256(data))
        }

        await before.close()

        const child = spawnChild('upload', root)
        try {
          await waitForLine(child, /^WRITING \d+/)
          // The temp file exists: the test could fail if the sweep did not remove it.
          expect(tempFiles(root)).to.have.length(1)
        } finally {
          await killHard(child)
        }

        expect(child.signalCode).to.equal('SIGKILL')
        expect(tempFiles(root)).to.have.length(1)

        const after = await openStore()
        expect(tempFiles(root)).to.deep.equal([])
        expect((await after.list()).map((i) => i.name)).to.deep.equal(['one.png', 'three.jpeg', 'two.jpg'])
        expect(
          readdirSync(root)
            .filter((n) => !n.startsWith('.'))
            .sort(),
        ).to.deep.equal(['one.png', 'three.jpeg', 'two.jpg'])
        for (const [name, hash] of earlier) {
          expect(sha256(await readAll((await after.openRead(name)).stream)), name).to.equal(hash)
        }
      })
    }
  })
})
