import {constants as fsConstants, type FSWatcher, watch} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'
import path from 'node:path'

import {defaultMaxConnections, openFileLimit} from '../transport/open-file-limit.js'

const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0
/** Bytes of hot small images `iss serve` keeps in memory by default (docs/performance.md says why). */
export const DEFAULT_CACHE_SIZE = 8 * 1024 * 1024
/** Open handles kept at most, whatever the open-file limit allows. */
const MAX_OPEN_HANDLES = 1024
const RESERVED_FILES = 64
/** An image is kept in memory only if it takes at most this share of the budget. */
const MEMORY_ENTRY_SHARE = 8

/**
 * How many read handles the cache may keep: what the open-file limit leaves after the default
 * connection limit's two descriptors per connection and a reserve, at most {@link MAX_OPEN_HANDLES}
 * (0 on a tight limit: every read then opens its own file).
 */
export function defaultOpenHandles(limit = openFileLimit()): number {
  return Math.max(0, Math.min(MAX_OPEN_HANDLES, limit - RESERVED_FILES - 2 * defaultMaxConnections(limit)))
}

/** An open stored file as it was when opened: its handle, size in bytes and modification time. */
export interface OpenFile {
  readonly handle: FileHandle
  readonly size: number
  readonly modifiedMs: number
}

/** A use of an open file; `release()` once done reading (exactly once). */
export interface FileLease extends OpenFile {
  /** The whole file's bytes, when a reader kept them (never to be changed). */
  readonly bytes: Buffer | null
  /** True when the handle was already open: the file was read recently and is likely in the page cache. */
  readonly isWarm: boolean
  /** Offers the whole file's bytes, just read through this lease, for the memory cache. */
  remember(bytes: Buffer): void
  release(): void
}

interface Entry extends OpenFile {
  /** Leases not yet released. */
  users: number
  /** Dropped from the cache: closed as soon as its last user is done. */
  dropped: boolean
  bytes: Buffer | null
}

/** Why a name cannot be opened as a served file (the caller answers E_NOT_FOUND). */
export class NotServedError extends Error {}

/**
 * Open read handles of stored files, by file name, at most `capacity` of them (least recently used
 * goes first), so that a GET of a hot image costs one positional read instead of open, fstat, read
 * and close. A handle is the file as it was opened: the store drops it on its own delete and rename
 * (`drop`), and a watch on the store folder drops it when anyone else renames, removes, replaces or
 * writes the name. What the watch cannot see is in docs/performance.md: changes made through
 * another machine's mount of a network filesystem, and the instant between an outside change and its
 * notification reaching the event loop (a GET in that instant gets the whole previous version).
 * With capacity 0, or when the folder cannot be watched, every read opens and closes its own handle.
 */
export class HandleCache {
  private readonly entries = new Map<string, Entry>()
  /** Opens in flight by name; a drop meanwhile marks them, so that what they opened is never cached. */
  private readonly opening = new Map<string, Set<{isStale: boolean}>>()
  private watcher: FSWatcher | null = null
  private isWatching = false

  /** Bytes of images held in memory. */
  private memoryUsed = 0

  constructor(
    private readonly root: string,
    private readonly capacity: number,
    /** Bytes of whole small images kept in memory, at most (0: none). */
    private readonly memoryBudget = 0,
    private readonly onWatchFailure?: (error: Error) => void,
  ) {}

  /** Starts watching the store folder; without a watch nothing is cached. */
  start(): void {
    if (this.capacity <= 0 || this.watcher !== null) return
    try {
      // The callback form: its 'error' event says when events may have been lost, and close() is synchronous.
      // eslint-disable-next-line n/prefer-promises/fs
      this.watcher = watch(this.root, {persistent: false}, (_event, fileName) => {
        if (fileName === null) this.dropAll()
        else this.drop(fileName)
      })
    } catch (error) {
      this.onWatchFailure?.(error as Error)
      return
    }

    this.isWatching = true
    this.watcher.on('error', (error) => {
      // Events may have been lost: nothing cached can be trusted, and nothing more is cached.
      this.isWatching = false
      this.dropAll()
      this.watcher?.close()
      this.onWatchFailure?.(error)
    })
  }

  /** Stops watching and closes every handle no reader holds (the rest close when released). */
  stop(): void {
    this.isWatching = false
    this.watcher?.close()
    this.watcher = null
    this.dropAll()
  }

  /**
   * A lease on the regular file `fileName` in the store folder, opened without following a symbolic
   * link. Throws NotServedError when it is missing, a link or not a regular file.
   */
  async acquire(fileName: string): Promise<FileLease> {
    const cached = this.entries.get(fileName)
    if (cached !== undefined) {
      // Most recently used last.
      this.entries.delete(fileName)
      this.entries.set(fileName, cached)
      return this.lease(cached, true)
    }

    const attempt = {isStale: false}
    const attempts = this.opening.get(fileName) ?? new Set()
    this.opening.set(fileName, attempts.add(attempt))
    let opened
    try {
      opened = await openServed(path.join(this.root, fileName)).catch(async (error: unknown) => {
        const code = (error as NodeJS.ErrnoException).code
        if ((code !== 'EMFILE' && code !== 'ENFILE') || this.entries.size === 0) throw error
        // Out of descriptors: the cache gives its own back before a read fails.
        this.dropAll()
        return openServed(path.join(this.root, fileName))
      })
    } finally {
      attempts.delete(attempt)
      if (attempts.size === 0) this.opening.delete(fileName)
    }

    const entry: Entry = {...opened, users: 0, dropped: false, bytes: null}
    const raced = this.entries.get(fileName)
    if (raced?.modifiedMs === entry.modifiedMs && raced.size === entry.size) {
      // Another reader opened it meanwhile: keep one handle.
      void entry.handle.close().catch(ignore)
      return this.lease(raced, false)
    }

    if (this.isWatching && raced === undefined && !attempt.isStale) {
      this.entries.set(fileName, entry)
      this.evictOverCapacity()
    } else {
      entry.dropped = true
    }

    return this.lease(entry, false)
  }

  /** Forgets `fileName`'s handle: its file was (or is about to be) removed, renamed or rewritten. */
  drop(fileName: string): void {
    if (this.capacity <= 0) return
    for (const attempt of this.opening.get(fileName) ?? []) attempt.isStale = true
    const entry = this.entries.get(fileName)
    if (entry === undefined) return
    this.entries.delete(fileName)
    this.retire(entry)
  }

  /** Open handles held by the cache (for tests). */
  get size(): number {
    return this.entries.size
  }

  private dropAll(): void {
    for (const attempts of this.opening.values()) for (const attempt of attempts) attempt.isStale = true
    for (const entry of this.entries.values()) this.retire(entry)
    this.entries.clear()
  }

  /** Bytes of images held in memory now (for tests). */
  get memoryBytes(): number {
    return this.memoryUsed
  }

  private lease(entry: Entry, isWarm: boolean): FileLease {
    entry.users++
    let isReleased = false
    return {
      handle: entry.handle,
      size: entry.size,
      modifiedMs: entry.modifiedMs,
      bytes: entry.bytes,
      isWarm,
      remember: (bytes) => {
        this.remember(entry, bytes)
      },
      release() {
        if (isReleased) return
        isReleased = true
        entry.users--
        if (entry.dropped && entry.users === 0) void entry.handle.close().catch(ignore)
      },
    }
  }

  /** Keeps a small image's bytes, least recently used images' bytes making room. */
  private remember(entry: Entry, bytes: Buffer): void {
    if (entry.dropped || entry.bytes !== null || bytes.length !== entry.size) return
    if (bytes.length > this.memoryBudget / MEMORY_ENTRY_SHARE) return
    for (const other of this.entries.values()) {
      if (this.memoryUsed + bytes.length <= this.memoryBudget) break
      this.forgetBytes(other)
    }

    entry.bytes = bytes
    this.memoryUsed += bytes.length
  }

  private forgetBytes(entry: Entry): void {
    if (entry.bytes === null) return
    this.memoryUsed -= entry.bytes.length
    entry.bytes = null
  }

  private retire(entry: Entry): void {
    this.forgetBytes(entry)
    entry.dropped = true
    if (entry.users === 0) void entry.handle.close().catch(ignore)
  }

  private evictOverCapacity(): void {
    for (const [name, entry] of this.entries) {
      if (this.entries.size <= this.capacity) return
      this.entries.delete(name)
      this.retire(entry)
    }
  }
}

/** Opens a stored file for reading (never through a symbolic link) and takes its size and time. */
async function openServed(file: string): Promise<OpenFile> {
  let handle
  try {
    handle = await open(file, fsConstants.O_RDONLY | O_NOFOLLOW)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // ELOOP: the name is now a symbolic link; ENOENT: removed by hand. Neither is served.
    if (code === 'ELOOP' || code === 'ENOENT') throw new NotServedError(code)
    throw error
  }

  try {
    const stats = await handle.stat()
    if (!stats.isFile()) throw new NotServedError('not a regular file')
    return {handle, size: stats.size, modifiedMs: stats.mtimeMs}
  } catch (error) {
    await handle.close().catch(ignore)
    throw error
  }
}

function ignore(): undefined {
  return undefined
}
