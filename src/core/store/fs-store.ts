import {randomBytes} from 'node:crypto'
import {constants as fsConstants} from 'node:fs'
import {chmod, lstat, mkdir, open, readdir, realpath, rename, rm, unlink} from 'node:fs/promises'
import path from 'node:path'
import type {Logger} from 'pino'

import {identityKey, validateImageName} from '../images/names.js'
import {errors, ErrorCode, IssError} from '../errors.js'
import {printable} from '../printable.js'
import {HandleCache, NotServedError} from './fs-handle-cache.js'
import {BytesStream, LeasedFileStream} from './fs-read-stream.js'
import {type HiddenEntry, scanStore} from './fs-scan.js'
import {DigestBook} from './digest-book.js'
import {DigestingUpload} from './digest-upload.js'
import {renameWithoutReplacing} from './fs-rename.js'
import {FsUpload, type UploadPublisher} from './fs-upload.js'
import {GroupSync} from './group-sync.js'
import {KeyedMutex} from './key-mutex.js'
import {NameIndex} from './name-index.js'
import {SpaceLedger} from './space-ledger.js'
import type {ImageStore, ListOptions, OpenedImage, ReadRange, StoredImage, Upload} from './store.js'
import {acquireStoreLock, type StoreLock} from './store-lock.js'
import {asStoreError} from './temp-file-sink.js'
import {publishWithoutReplacing} from '../publish-no-replace.js'

export {StoreLockedError} from './store-lock.js'

/** The hidden folder of temporary files inside the store; on the same filesystem, so link() can publish. */
export const TEMP_DIR = '.iss-tmp'

export interface FsStoreOptions {
  /** The store directory; created if missing. May be a symbolic link, resolved once at open. */
  readonly root: string
  /** Bytes to keep free on the store's disk (default 0: only a full disk stops an upload). */
  readonly minFree?: number
  /** fsync files and the directory before an image counts as stored (default true). */
  readonly fsync?: boolean
  /** Largest image in bytes (default: no limit of the store's own). */
  readonly maxSize?: number
  /** Where warnings go (entries of the folder that are not served, a store turned read-only). */
  readonly logger?: Pick<Logger, 'warn'>
  /** Read handles of hot images kept open (default 0: every GET opens and closes its file). */
  readonly openHandles?: number
  /** Bytes of hot small images kept in memory (default 0: none); needs open handles. */
  readonly cacheBytes?: number
}

/** Hidden entries named one by one in the start-up warning; the rest are counted. */
const HIDDEN_SHOWN = 20
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0

/**
 * Images as plain files in one directory. Uploads stream into `.iss-tmp/`, are fsynced, and are
 * published with link(), which never replaces an existing name; uniqueness by identity key is kept
 * by an in-memory index under a per-key lock. One process holds a store at a time (`.iss-lock`).
 * Files are never opened through symbolic links. Files added to the directory by hand while the
 * server runs are seen at the next start.
 */
export class FsStore implements ImageStore {
  private readonly options: FsStoreOptions & Required<Omit<FsStoreOptions, 'maxSize' | 'logger'>>
  private handles: HandleCache
  private rootSync: GroupSync
  private root: string
  private tempDir: string
  private lock: StoreLock | null = null
  private readonly index = new NameIndex()
  private readonly keys = new KeyedMutex()
  private readonly uploads = new Set<FsUpload>()
  private readonly publisher: UploadPublisher
  private readonly ledger: SpaceLedger
  private hiddenEntries: readonly HiddenEntry[] = []
  private digests: DigestBook

  constructor(options: FsStoreOptions) {
    this.options = {minFree: 0, fsync: true, openHandles: 0, cacheBytes: 0, ...options}
    this.root = options.root
    this.handles = new HandleCache(options.root, 0)
    this.rootSync = new GroupSync(options.root)
    this.tempDir = path.join(options.root, TEMP_DIR)
    this.ledger = new SpaceLedger(() => this.tempDir, this.options.minFree)
    this.digests = new DigestBook(options.root)
    this.publisher = {
      fsync: this.options.fsync,
      publish: async (tempPath, name, size, modifiedMs, sha256) =>
        this.publish(tempPath, name, size, modifiedMs, sha256),
      forget: (upload) => {
        this.uploads.delete(upload)
      },
    }
  }

  private async publish(
    tempPath: string,
    name: string,
    size: number,
    modifiedMs: number,
    sha256?: string,
  ): Promise<StoredImage> {
    const stored = validateImageName(name)
    const key = identityKey(stored)
    return this.keys.run(key, async () => {
      this.ensureOpen()
      const existing = this.index.get(key)
      if (existing !== undefined) throw errors.duplicate(existing.name)
      const target = path.join(this.root, stored)
      // The record goes first: once the name is visible, its digest is known (or, after a crash, rebuilt).
      if (sha256 !== undefined) await this.digests.record(key, {name: stored, size, modifiedMs}, sha256).catch(ignore)
      try {
        if (!(await publishWithoutReplacing(tempPath, target, {keepSource: true}))) throw errors.duplicate(stored)
        // The temporary name goes while the new one is made durable (group commit: one directory
        // fsync for every upload published meanwhile).
        const removed = unlink(tempPath).catch(ignore)
        if (this.options.fsync) await this.rootSync.sync()
        await removed
      } catch (error) {
        throw asStoreError(error, size)
      }

      this.handles.drop(stored)
      const image: StoredImage = Object.freeze({name: stored, size, modifiedMs})
      this.index.set(key, image)
      // The index stays lean (no digest per name in memory); the caller gets the digest.
      return sha256 === undefined ? image : Object.freeze({...image, sha256})
    })
  }

  private async prepareTempDir(): Promise<void> {
    const stats = await lstat(this.tempDir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    })
    if (stats !== null && !stats.isDirectory()) await rm(this.tempDir, {force: true})
    if (stats?.isDirectory()) {
      await chmod(this.tempDir, 0o700)
    } else {
      await mkdir(this.tempDir, {mode: 0o700})
    }
  }

  /** Removes every temporary file. Safe only under the lock: no other server is writing here. */
  private async sweepTemp(): Promise<void> {
    const names = await readdir(this.tempDir)
    const active = new Set([...this.uploads].map((upload) => upload.tempPath))
    await Promise.all(
      names.map(async (name) => {
        const file = path.join(this.tempDir, name)
        if (!active.has(file)) await rm(file, {force: true, recursive: true})
      }),
    )
  }

  private async buildIndex(): Promise<void> {
    const {images, hidden} = await scanStore(this.root)
    this.index.load(images)
    this.hiddenEntries = hidden
    if (hidden.length === 0) return
    const shown = hidden.slice(0, HIDDEN_SHOWN).map(({name, reason}) => `'${printable(name)}' (${reason})`)
    const more = hidden.length > HIDDEN_SHOWN ? `; and ${hidden.length - HIDDEN_SHOWN} more` : ''
    this.options.logger?.warn(
      {store: this.root, hidden: hidden.length},
      `${hidden.length} ${hidden.length === 1 ? 'entry' : 'entries'} of the store folder ${this.root} ` +
        `${hidden.length === 1 ? 'is' : 'are'} not served (not in LIST, GET or DELETE): ${shown.join('; ')}${more}`,
    )
  }

  /** Entries of the store folder found at open that are not served, with the reason (a folder edited by hand). */
  get hidden(): readonly HiddenEntry[] {
    return this.hiddenEntries
  }

  private ensureOpen(): void {
    if (this.lock === null) throw new IssError(ErrorCode.INTERNAL, `The store ${this.root} is not open`)
  }

  /** Creates the store if needed, takes its lock, sweeps temporary files left by a crash and indexes the images. */
  async open(): Promise<void> {
    if (this.lock !== null) return
    await mkdir(this.options.root, {recursive: true})
    const root = await realpath(this.options.root)
    if (!(await lstat(root)).isDirectory()) throw new Error(`store ${root} is not a directory`)
    const lock = await acquireStoreLock(root)
    try {
      this.root = root
      this.tempDir = path.join(root, TEMP_DIR)
      this.rootSync = new GroupSync(root)
      if (this.options.fsync) await this.rootSync.open()
      await this.prepareTempDir()
      this.digests = new DigestBook(root)
      await this.sweepTemp()
      await this.buildIndex()
      this.handles = new HandleCache(root, this.options.openHandles, this.options.cacheBytes, (error) => {
        this.options.logger?.warn(
          {store: root, err: error},
          `cannot watch the store folder ${root} (${error.message}): open files are no longer kept between reads`,
        )
      })
      this.handles.start()
    } catch (error) {
      await this.rootSync.close().catch(ignore)
      await lock.release()
      throw error
    }

    this.lock = lock
  }

  async close(): Promise<void> {
    const lock = this.lock
    if (lock === null) return
    this.lock = null
    this.handles.stop()
    await Promise.all([...this.uploads].map(async (upload) => upload.abort()))
    await this.rootSync.close().catch(ignore)
    await this.sweepTemp().catch(ignore)
    try {
      await lock.release()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EROFS') throw error
      // The lock names this process, which is about to end: the next start finds it stale.
      this.options.logger?.warn(
        {store: this.root},
        `the store ${this.root} is read-only: its lock file stays behind (the next start takes it over)`,
      )
    }
  }

  describe(): string {
    return this.root
  }

  async beginUpload(name: string, sizeHint: number): Promise<Upload> {
    this.ensureOpen()
    const key = identityKey(validateImageName(name))
    const existing = this.index.get(key)
    if (existing !== undefined) throw errors.duplicate(existing.name)
    return this.startUpload(sizeHint)
  }

  async spool(sizeHint?: number): Promise<Upload> {
    this.ensureOpen()
    return this.startUpload(sizeHint ?? 0)
  }

  /** Reserves `sizeHint` bytes of free space, then opens a fresh temporary file for the upload. */
  private async startUpload(sizeHint: number): Promise<Upload> {
    const {maxSize} = this.options
    if (maxSize !== undefined && sizeHint > maxSize) throw errors.tooLarge('Image', sizeHint, maxSize)
    const reservation = await this.ledger.reserve(sizeHint)
    const tempPath = path.join(this.tempDir, `${randomBytes(12).toString('hex')}.part`)
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | O_NOFOLLOW
    let handle
    try {
      handle = await open(tempPath, flags, 0o600)
    } catch (error) {
      reservation.release()
      throw asStoreError(error, 0)
    }

    const upload = new FsUpload(handle, tempPath, {maxSize, reservation}, this.publisher)
    this.uploads.add(upload)
    return new DigestingUpload(upload)
  }

  /** Bytes promised to uploads in flight and not yet written (for tests). */
  get reservedBytes(): number {
    return this.ledger.outstanding()
  }

  async openRead(name: string, range?: ReadRange): Promise<OpenedImage> {
    this.ensureOpen()
    const key = identityKey(name)
    const image = this.index.get(key)
    if (image === undefined) throw errors.notFound(name)
    let lease
    try {
      lease = await this.handles.acquire(image.name)
    } catch (error) {
      if (error instanceof NotServedError) throw errors.notFound(name)
      throw error
    }

    let sha256
    try {
      sha256 = await this.digests.digestOf(
        key,
        {name: image.name, size: lease.size, modifiedMs: lease.modifiedMs},
        lease.handle,
      )
    } catch (error) {
      lease.release()
      throw error
    }

    // Size and time of the file as opened (it may have been replaced by hand since the index was made).
    const opened: StoredImage = Object.freeze({
      name: image.name,
      size: lease.size,
      modifiedMs: lease.modifiedMs,
      sha256,
    })
    const start = Math.min(Math.max(0, range?.offset ?? 0), lease.size)
    const end = range?.length === undefined ? lease.size : Math.min(lease.size, start + Math.max(0, range.length))
    const isWhole = start === 0 && end === lease.size
    const stream =
      isWhole && lease.bytes !== null ? new BytesStream(lease, lease.bytes) : new LeasedFileStream(lease, start, end)
    return {image: opened, stream, offset: start}
  }

  async list(options?: ListOptions): Promise<readonly StoredImage[]> {
    this.ensureOpen()
    const images = this.index.list(options)
    if (options?.digests !== true) return images
    // Kept digests only: a listing never hashes (an image without a record shows none until read).
    return Promise.all(
      images.map(async (image) => {
        const sha256 = await this.digests.lookup(identityKey(image.name), image)
        return sha256 === undefined ? image : Object.freeze({...image, sha256})
      }),
    )
  }

  /** One image's facts with its SHA-256 (rebuilt by reading the image when no record is kept), or null. */
  async stat(name: string): Promise<StoredImage | null> {
    this.ensureOpen()
    const key = identityKey(name)
    const image = this.index.get(key)
    if (image === undefined) return null
    const sha256 = await this.digests.digestOf(key, image).catch(() => undefined)
    return sha256 === undefined ? image : Object.freeze({...image, sha256})
  }

  async delete(name: string): Promise<StoredImage> {
    this.ensureOpen()
    const key = identityKey(name)
    return this.keys.run(key, async () => {
      const image = this.index.get(key)
      if (image === undefined) throw errors.notFound(name)
      // Rename out of sight first: the name disappears in one step, and readers keep their open file.
      const aside = path.join(this.tempDir, `${randomBytes(12).toString('hex')}.deleted`)
      try {
        await rename(path.join(this.root, image.name), aside)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw asStoreError(error, 0)
        this.index.delete(key)
        this.handles.drop(image.name)
        throw errors.notFound(name)
      }

      this.index.delete(key)
      this.handles.drop(image.name)
      if (this.options.fsync) await this.rootSync.sync()
      await unlink(aside).catch(ignore)
      await this.digests.forget(key)
      return image
    })
  }

  /** Never replaces (src/core/store/fs-rename.ts): link under the new name, then unlink the old, under both key locks. */
  async rename(from: string, to: string): Promise<StoredImage> {
    this.ensureOpen()
    const {root, index, keys} = this
    const before = index.get(identityKey(from))
    const sha256 = before && (await this.digests.lookup(identityKey(from), before).catch(() => undefined))
    const sync = async (directory: string) => (directory === root ? this.rootSync.sync() : syncDirectory(directory))
    const after = await renameWithoutReplacing(
      {root, index, keys, fsync: this.options.fsync, syncDirectory: sync},
      from,
      to,
    )
    if (before !== undefined) this.handles.drop(before.name)
    this.handles.drop(after.name)
    // The digest moves with the bytes (a record the old name left behind would only be rebuilt).
    await this.digests.forget(identityKey(from)).catch(ignore)
    if (sha256) await this.digests.record(identityKey(after.name), after, sha256).catch(ignore)
    return after
  }

  /** Images in the index (for tests and start-up output). */
  get size(): number {
    return this.index.size
  }
}

/** For promises whose failure changes nothing (removing a file that may be gone). */
function ignore(): undefined {
  return undefined
}

/** Makes a directory's entries (a new name, a removal) durable. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
