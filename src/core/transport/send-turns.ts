/**
 * Long replies (a listing of 70,000 names) take turns with everything else: per turn of the event loop,
 * all of them together write at most `perTurn` chunks, first come first served. Without it, 200 listings
 * being pushed into the kernel's socket buffers (loopback takes tens of MB each) fill every turn with
 * encoding, and a new request waits seconds for its own; with it, a turn stays a few milliseconds long.
 */
export class SendTurns {
  private readonly waiting: Array<() => void> = []
  private used = 0
  private isScheduled = false

  constructor(private readonly perTurn: number) {}

  /** Resolves when the caller may write its next chunk. */
  async take(): Promise<void> {
    if (this.used < this.perTurn && this.waiting.length === 0) {
      this.used++
      this.schedule()
      return
    }

    await new Promise<void>((resolve) => {
      this.waiting.push(resolve)
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.isScheduled) return
    this.isScheduled = true
    setImmediate(() => {
      this.isScheduled = false
      const batch = this.waiting.splice(0, this.perTurn)
      this.used = batch.length
      for (const resolve of batch) resolve()
      if (this.used > 0) this.schedule()
    })
  }
}

/** Shared by every connection of the process: 16 chunks of 64 KiB, about 1 MiB of listing per turn. */
export const longReplyTurns = new SendTurns(16)
