import {createHash, type Hash} from 'node:crypto'
import {type FileHandle, open, readFile, rename, unlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {TargetExistsError} from './errors.js'
import {identityKey} from './images/names.js'
import {truncateUtf8, PART_NAME_PREFIX_BYTES} from './download-target.js'
import {publishWithoutReplacing} from './publish-no-replace.js'
import type {PickleKey, PickleValue} from './protocol/values.js'
import {digestIn} from './transfer-digest.js'
import type {FileDataSink} from './transport/client-connection.js'
import {writeAll} from './write-all.js'

/** Bytes gathered before one write to the part file. */
const BATCH_BYTES = 1024 * 1024

/** What the sidecar says of the part file beside it. */
export interface ContinueSidecar {
  /** host:port of the server it came from. */
  readonly server: string
  /** The image's name as asked for (compared by identity key). */
  readonly name: string
  /** The whole image's size in bytes, once an answer announced it. */
  readonly size: number | null
  /** The server's SHA-256 of the whole image, when it sent one. */
  readonly sha256: string | null
}

/** How the last answer went: appended after the part, started over from zero, or the server's image changed. */
export type ResumeOutcome = 'appended' | 'restarted' | 'changed'

/**
 * A download that survives being cut off: its bytes go to a part file with a stable name beside the
 * target, described by a small JSON sidecar (server, name, size, SHA-256). A later run with the same
 * server and name asks for the rest (GET OFFSET); a server that answers without echoing OFFSET sends the
 * whole image, and the part starts over instead of growing. The whole file is checked against the
 * server's SHA-256 before it is published.
 */
export class ResumableDownload {
  /** Bytes already in the part file when the request was made (the OFFSET asked for). */
  offset = 0
  /** Bytes in the part file now. */
  private written = 0
  private hash: Hash = createHash('sha256')
  private sidecar: ContinueSidecar
  private outcome: ResumeOutcome = 'appended'
  private queue: Buffer[] = []
  private queued = 0
  readonly sink: FileDataSink

  private constructor(
    readonly target: string,
    readonly partPath: string,
    readonly sidecarPath: string,
    private readonly handle: FileHandle,
    server: string,
    name: string,
  ) {
    this.sidecar = {server, name, size: null, sha256: null}
    this.sink = {
      begin: (head, length) => {
        this.begin(head, length)
      },
      // eslint-disable-next-line @typescript-eslint/promise-function-async -- undefined when the caller need not wait
      write: (chunk) => this.write(chunk),
    }
  }

  /** Opens (or creates) the part file for `target`, keeping what an earlier run of the same download left. */
  static async open(target: string, server: string, name: string): Promise<ResumableDownload> {
    // Stable names (no pid, no random part), so that a later run finds them; swept after CONTINUE_KEEP_MS.
    const base = `.${truncateUtf8(path.basename(target), PART_NAME_PREFIX_BYTES)}.iss-continue`
    const directory = path.dirname(target)
    const partPath = path.join(directory, `${base}.part`)
    const sidecarPath = path.join(directory, `${base}.json`)
    const handle = await open(partPath, 'a+', 0o666)
    const download = new ResumableDownload(target, partPath, sidecarPath, handle, server, name)
    await download.takeOver()
    return download
  }

  /** Takes over an earlier part when its sidecar names this server and image; else starts empty. */
  async takeOver(): Promise<void> {
    const earlier = await readSidecar(this.sidecarPath)
    const size = (await this.handle.stat()).size
    const isSame =
      earlier !== null &&
      earlier.server === this.sidecar.server &&
      identityKey(earlier.name) === identityKey(this.sidecar.name) &&
      (earlier.size === null || size <= earlier.size)
    if (!isSame || size === 0) {
      await this.handle.truncate(0)
      await writeSidecar(this.sidecarPath, this.sidecar)
      return
    }

    this.sidecar = earlier
    // The bytes already here count towards the whole file's digest: read once, here, not again at the end.
    const buffer = Buffer.allocUnsafe(BATCH_BYTES)
    for (let position = 0; position < size;) {
      const {bytesRead} = await this.handle.read(buffer, 0, Math.min(buffer.length, size - position), position)
      if (bytesRead === 0) break
      this.hash.update(buffer.subarray(0, bytesRead))
      position += bytesRead
    }

    this.offset = size
    this.written = size
  }

  /** The answer's head: did the server honour OFFSET, and is it still the same image? */
  private begin(head: ReadonlyMap<PickleKey, PickleValue>, length: number): void {
    const echoed = head.get('OFFSET')
    const sha256 = digestIn(head) ?? null
    const isAppend = this.offset > 0 && typeof echoed === 'bigint' && Number(echoed) === this.offset
    if (isAppend && this.sidecar.sha256 !== null && sha256 !== null && sha256 !== this.sidecar.sha256) {
      // Another image under the same name now: these bytes do not continue ours.
      this.outcome = 'changed'
      return
    }

    if (!isAppend && this.written > 0) {
      // The whole image comes (a server that ignores OFFSET): start over rather than append.
      this.outcome = 'restarted'
      this.hash = createHash('sha256')
      this.written = 0
      this.truncating = true
    }

    this.sidecar = {...this.sidecar, size: (isAppend ? this.offset : 0) + length, sha256}
    this.pendingSidecar = true
  }

  private truncating = false
  private pendingSidecar = false

  private write(chunk: Buffer): Promise<void> | undefined {
    if (this.outcome === 'changed') return undefined
    this.hash.update(chunk)
    this.queue.push(chunk)
    this.queued += chunk.length
    if (this.queued < BATCH_BYTES) return undefined
    return this.flush()
  }

  /** Writes what is queued (and the sidecar and truncation a new answer asked for) to disk. */
  async flush(): Promise<void> {
    if (this.truncating) {
      this.truncating = false
      await this.handle.truncate(0)
    }

    if (this.pendingSidecar) {
      this.pendingSidecar = false
      await writeSidecar(this.sidecarPath, this.sidecar)
    }

    const batch = this.queue
    this.queue = []
    this.queued = 0
    if (batch.length === 0) return
    const total = batch.reduce((sum, chunk) => sum + chunk.length, 0)
    // 'a+' appends at the end whatever the position: the part only ever grows here.
    await writeAll(this.handle, batch)
    this.written += total
  }

  /** How the answer went: appended to the part, started over, or the server's image changed (start again). */
  get result(): ResumeOutcome {
    return this.outcome
  }

  /** Bytes in the part file (after {@link flush}). */
  get bytes(): number {
    return this.written
  }

  /** The server's digest of the whole image, if it sent one. */
  get expectedSha256(): string | null {
    return this.sidecar.sha256
  }

  /** Empties the part file, for a fresh start from byte 0 (the server's image changed). */
  async reset(): Promise<void> {
    await this.handle.truncate(0)
    this.hash = createHash('sha256')
    this.written = 0
    this.offset = 0
    this.outcome = 'appended'
    this.sidecar = {server: this.sidecar.server, name: this.sidecar.name, size: null, sha256: null}
    await writeSidecar(this.sidecarPath, this.sidecar)
  }

  /**
   * Checks the whole file's SHA-256 against the server's and publishes it under the target's name (never
   * replacing a file unless `force`). Returns the digest; on a mismatch returns it without publishing.
   */
  async finish(force: boolean): Promise<{sha256: string; isIntact: boolean}> {
    await this.flush()
    const sha256 = this.hash.digest('hex')
    if (this.sidecar.sha256 !== null && sha256 !== this.sidecar.sha256) return {sha256, isIntact: false}
    await this.handle.sync()
    await this.handle.close()
    if (force) await rename(this.partPath, this.target)
    else if (!(await publishWithoutReplacing(this.partPath, this.target))) throw new TargetExistsError(this.target)
    await unlink(this.sidecarPath).catch(() => undefined)
    return {sha256, isIntact: true}
  }

  /** Writes what is queued and closes the part file, keeping it and its sidecar for a later run. */
  async keep(): Promise<void> {
    await this.flush().catch(() => undefined)
    await this.handle.close().catch(() => undefined)
  }

  /** Removes the part file and its sidecar (a damaged download cannot be resumed). */
  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined)
    await unlink(this.partPath).catch(() => undefined)
    await unlink(this.sidecarPath).catch(() => undefined)
  }
}

async function readSidecar(file: string): Promise<ContinueSidecar | null> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<ContinueSidecar>
    if (typeof value.server !== 'string' || typeof value.name !== 'string') return null
    return {
      server: value.server,
      name: value.name,
      size: typeof value.size === 'number' ? value.size : null,
      sha256: typeof value.sha256 === 'string' ? value.sha256 : null,
    }
  } catch {
    return null
  }
}

/** Replaces the sidecar in one step (temporary file + rename), so a kill never leaves half of one. */
async function writeSidecar(file: string, sidecar: ContinueSidecar): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, JSON.stringify(sidecar), {mode: 0o600})
  await rename(temporary, file)
}
