import {constants as fsConstants} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'

/**
 * Group commit for one directory's entries: every caller of {@link sync} is answered by an fsync of
 * the directory that started after it called, and callers that arrive while one fsync runs share
 * the next one. Under a burst of N uploads that costs about two directory fsyncs in flight instead of N
 * one after another, and adds no wait when uploads come one at a time. The directory stays open
 * between syncs (no open and close per upload).
 */
export class GroupSync {
  private handle: FileHandle | null = null
  private running: Promise<void> | null = null
  private queued: Promise<void> | null = null
  private syncs = 0

  constructor(private readonly directory: string) {}

  async open(): Promise<void> {
    this.handle ??= await open(this.directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
  }

  /** Closes the directory once the syncs in flight are done. */
  async close(): Promise<void> {
    const {handle} = this
    this.handle = null
    await Promise.allSettled([this.running, this.queued])
    await handle?.close()
  }

  /** Resolves once the directory's entries as they are now are durable; rejects with the fsync's error. */
  async sync(): Promise<void> {
    if (this.queued !== null) return this.queued
    if (this.running === null) return this.start()
    // The running fsync may have started before the caller's change: the next one covers it.
    this.queued = this.running.catch(ignore).then(async () => {
      this.queued = null
      return this.start()
    })
    return this.queued
  }

  /** Directory fsyncs made so far (for tests and the bench). */
  get count(): number {
    return this.syncs
  }

  private async start(): Promise<void> {
    const {handle} = this
    this.syncs++
    const running = (async () => {
      if (handle === null) {
        // Not open (a store used before open(), or closing): one fsync of its own.
        const own = await open(this.directory, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
        try {
          await own.sync()
        } finally {
          await own.close()
        }
      } else {
        await handle.sync()
      }
    })()
    this.running = running
    try {
      await running
    } finally {
      if (this.running === running) this.running = null
    }
  }
}

function ignore(): undefined {
  return undefined
}
