/**
 * Decode memory shared by every connection of a server. Each decoder reserves from it as its
 * message grows (in steps, see DECODE_BUDGET_STEP) and gives everything back when the message is
 * done or failed, so that N connections together never hold more than `limit` bytes of decoded
 * values, whatever each one is allowed alone. Pure bookkeeping: no timers, no I/O.
 */
export class DecodeBudget {
  private used = 0
  private peak = 0

  /** @param limit bytes of decoded values (at their measured heap cost) for all connections together */
  constructor(readonly limit: number) {
    if (!Number.isFinite(limit) || limit <= 0) throw new RangeError(`a decode budget must be positive, not ${limit}`)
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used
  }

  /** Most bytes ever reserved at once (for logs, tests and the bench). */
  get peakInUse(): number {
    return this.peak
  }

  /** Takes `bytes` if they fit; false (and nothing taken) if not. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false
    this.used += bytes
    if (this.used > this.peak) this.peak = this.used
    return true
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes)
  }
}

/** A decoder reserves from the shared budget this much at a time, so that most values cost no call. */
export const DECODE_BUDGET_STEP = 256 * 1024

/** The server's default: 256 MiB, i.e. 64 requests at a server's per-request bound (REQUEST_PICKLE_LIMITS, 4 MiB) at once. */
export const DEFAULT_DECODE_BUDGET_BYTES = 256 * 1024 * 1024
