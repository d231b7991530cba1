import {randomBytes} from 'node:crypto'
import fs from 'node:fs'
import {lstat, open, readdir, rename, unlink, type FileHandle} from 'node:fs/promises'
import path from 'node:path'

import type {FileDataSink} from './transport/client-connection.js'
import {publishWithoutReplacing} from './publish-no-replace.js'
import {writeAll} from './write-all.js'
import {TargetExistsError} from './errors.js'

export {TargetExistsError} from './errors.js'

/** A part file untouched for this long is abandoned, whatever its writer's pid says (pids get reused). */
export const STALE_PART_MS = 60 * 60 * 1000

// `.NAME.iss-<pid>-<random>.part`: dot-named so that it never looks like a finished image.
const PART_PATTERN = /^\..*\.iss-(\d+)-[\da-f]+\.part$/

/** `get --continue` part files and their sidecars are kept this long for a resume, then swept. */
export const CONTINUE_KEEP_MS = 7 * 24 * 60 * 60 * 1000
/** `.NAME.iss-continue.part` and `.NAME.iss-continue.json` (src/core/resumable-download.ts). */
const CONTINUE_PATTERN = /^\..*\.iss-continue\.(?:part|json)$/

/**
 * Bytes of the target's name kept in its part file's name: with the fixed parts (a dot, `.iss-`, a pid
 * of up to 10 digits, `-`, 12 hex digits, `.part`: 34 bytes) the part file's name stays within 255
 * bytes of UTF-8, the limit of ext4, APFS and most others, whatever the target's name. A stored name
 * may itself be 255 bytes (83 CJK characters + .jpg is 253), so it can never be used whole.
 */
export const PART_NAME_PREFIX_BYTES = 100

/** `.NAME.iss-<pid>-<random>.part`, NAME cut to PART_NAME_PREFIX_BYTES of UTF-8 at a character boundary. */
export function partFileName(targetName: string): string {
  return `.${truncateUtf8(targetName, PART_NAME_PREFIX_BYTES)}.iss-${process.pid}-${randomBytes(6).toString('hex')}.part`
}

/** The longest prefix of `text` within `maxBytes` of UTF-8 that ends at a code point boundary. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text
  let bytes = 0
  let end = 0
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8')
    if (bytes + size > maxBytes) break
    bytes += size
    end += char.length
  }
  return text.slice(0, end)
}

/** Temporary files being written now, removed synchronously if the process is told to stop. */
const activeParts = new Set<string>()

/**
 * Bytes a download may queue before its sink asks the connection to wait. Writes are gathered (one
 * writev per batch, in the background) so that the socket is read while the disk writes; memory stays
 * within twice this (one batch on its way to the disk, one queued) plus a chunk. Larger batches
 * measured slower (2 MiB: the copy into the page cache took most of the client's CPU, reading data
 * that had left the CPU cache); smaller ones cost more thread-pool round trips.
 */
export const DOWNLOAD_HIGH_WATER_MARK = 512 * 1024

/**
 * One download into a temporary file beside its target. Nothing is visible under the target's name until
 * `publish()`, which fsyncs and then links (or, with force, renames) it into place.
 */
export class Download {
  /** Bytes received so far; all of them are on disk once `publish()` has resolved. */
  bytes = 0
  readonly sink: FileDataSink

  private queue: Buffer[] = []
  private queued = 0
  private writing: Promise<void> | null = null
  private failure: {error: unknown} | null = null
  private stopped = false
  private room: {resolve: () => void; reject: (error: unknown) => void} | null = null

  private constructor(
    readonly target: string,
    readonly partPath: string,
    private readonly handle: FileHandle,
  ) {
    // eslint-disable-next-line @typescript-eslint/promise-function-async -- returns undefined when the caller need not wait; async would force a Promise per chunk
    this.sink = {write: (chunk) => this.write(chunk)}
  }

  /** Creates the part file (never an existing one) in the target's folder. */
  static async start(target: string): Promise<Download> {
    const partPath = path.join(path.dirname(target), partFileName(path.basename(target)))
    const handle = await open(partPath, 'wx', 0o666)
    activeParts.add(partPath)
    return new Download(target, partPath, handle)
  }

  /** Makes the file visible under the target's name: never replacing an existing file unless `force`. */
  async publish(force: boolean): Promise<void> {
    try {
      await this.flush()
    } catch (error) {
      await this.discard()
      throw error
    }
    await this.handle.sync()
    await this.handle.close()
    try {
      if (force) {
        await rename(this.partPath, this.target)
      } else {
        await publishNoReplace(this.partPath, this.target)
      }
    } catch (error) {
      await this.discard()
      throw error
    }
    activeParts.delete(this.partPath)
    syncDirectory(path.dirname(this.target))
  }

  /** Removes the part file; safe to call twice and after publish. */
  async discard(): Promise<void> {
    this.stopped = true
    this.queue = []
    this.queued = 0
    this.room?.reject(new Error('the download was discarded'))
    this.room = null
    // eslint-disable-next-line @typescript-eslint/no-empty-function -- best-effort cleanup: a failed write was already reported
    await this.writing?.catch(() => {})
    // eslint-disable-next-line @typescript-eslint/no-empty-function -- best-effort cleanup: the handle may already be closed
    await this.handle.close().catch(() => {})
    // eslint-disable-next-line @typescript-eslint/no-empty-function -- best-effort cleanup: the part file may already be gone
    await unlink(this.partPath).catch(() => {})
    activeParts.delete(this.partPath)
  }

  /** Queues a chunk; waits only while DOWNLOAD_HIGH_WATER_MARK bytes or more wait for the disk. Fails with a write's error. */
  private write(chunk: Buffer): Promise<void> | undefined {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rethrows the write's own failure unchanged, whatever it is
    if (this.failure !== null) return Promise.reject(this.failure.error)
    if (this.stopped) return Promise.reject(new Error('the download was discarded'))
    this.queue.push(chunk)
    this.queued += chunk.length
    this.bytes += chunk.length
    this.writing ??= this.writeQueued()
    if (this.queued < DOWNLOAD_HIGH_WATER_MARK) return undefined
    return new Promise((resolve, reject) => {
      this.room = {resolve, reject}
    })
  }

  /** Everything queued is written, or the first write error is thrown. */
  private async flush(): Promise<void> {
    await this.writing
    if (this.failure !== null) throw this.failure.error
  }

  /** Writes what is queued, a batch at a time, until the queue is empty; never rejects. */
  private async writeQueued(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const batch = this.queue
        this.queue = []
        this.queued = 0
        // The connection goes on reading while this batch is on its way to the disk.
        const room = this.room
        this.room = null
        room?.resolve()
        await writeAll(this.handle, batch)
      }
    } catch (error) {
      this.failure = {error}
      this.room?.reject(error)
      this.room = null
    } finally {
      this.writing = null
    }
  }
}

async function publishNoReplace(from: string, to: string): Promise<void> {
  if (!(await publishWithoutReplacing(from, to))) throw new TargetExistsError(to)
}

function syncDirectory(directory: string): void {
  try {
    const fd = fs.openSync(directory, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    // Not every platform can fsync a directory; the data itself is already synced.
  }
}

function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes part files left in `directory` by downloads that were killed (SIGKILL, power loss): those whose
 * writer is gone or that nobody has written for an hour. Returns the names removed.
 */
export async function sweepStaleParts(directory: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = []
  let names: string[]
  try {
    names = await readdir(directory)
  } catch {
    return removed
  }
  for (const name of names) {
    if (CONTINUE_PATTERN.test(name)) {
      const stats = await lstat(path.join(directory, name)).catch(() => undefined)
      if (
        stats?.isFile() &&
        now - stats.mtimeMs > CONTINUE_KEEP_MS &&
        (await unlink(path.join(directory, name))
          .then(() => true)
          .catch(() => false))
      )
        removed.push(name)
      continue
    }
    const match = PART_PATTERN.exec(name)
    if (match === null) continue
    const file = path.join(directory, name)
    if (activeParts.has(file)) continue
    const stats = await lstat(file).catch(() => undefined)
    if (!stats?.isFile()) continue
    const pid = Number(match[1])
    const abandoned = (pid !== process.pid && !pidIsAlive(pid)) || now - stats.mtimeMs > STALE_PART_MS
    if (
      abandoned &&
      (await unlink(file)
        .then(() => true)
        .catch(() => false))
    )
      removed.push(name)
  }
  return removed
}

/**
 * While a download runs, SIGINT and SIGTERM remove its part file before the process exits (130 and 143,
 * the shell's codes for those signals). Returns the function that uninstalls the handlers.
 */
export function removePartsOnSignal(): () => void {
  const handler = (signal: NodeJS.Signals) => {
    for (const file of activeParts) {
      try {
        fs.unlinkSync(file)
      } catch {
        // Already gone.
      }
    }
    activeParts.clear()
    process.stderr.write(`\niss: interrupted; no partial file was kept\n`)
    process.exit(signal === 'SIGINT' ? 130 : 143)
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return () => {
    process.off('SIGINT', handler)
    process.off('SIGTERM', handler)
  }
}
