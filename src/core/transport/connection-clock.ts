/** Time limits of one connection. Times in ms, rates in bytes per second unless named otherwise. */
export interface ClockLimits {
  /** A connection with no request in progress closes after this long. */
  readonly idleTimeoutMs: number
  /** A request whose frame header and request head are not complete this long after its first byte is cut off. */
  readonly headerTimeoutMs: number
  /** A request in progress must move this many bytes per `rateWindowMs`, counting only time spent waiting on the peer. */
  readonly minRateBytes: number
  readonly rateWindowMs: number
  /**
   * A whole request must average at least this rate over its announced size, plus `deadlineSlackMs`:
   * a trickle just above `minRateBytes` cannot hold a slot for weeks.
   */
  readonly minAverageRate: number
  readonly deadlineSlackMs: number
}

/** What the clock reports; the connection decides what each means for the socket. */
export interface ClockAlarms {
  /** No request for `idleTimeoutMs`. */
  idle(): void
  /** The frame header or request head did not complete in time. */
  headerTimeout(): void
  /** Less than the minimum rate in a window spent waiting on the peer. */
  tooSlow(): void
  /** The request outlived the deadline its announced size allows. */
  deadline(): void
}

type TimerName = 'deadline' | 'header' | 'idle' | 'rate'

function timer(ms: number, run: () => void): NodeJS.Timeout {
  const handle = setTimeout(run, ms)
  handle.unref()
  return handle
}

/**
 * The deadlines and rates of one connection: idle, header and request deadlines, and a minimum
 * rate over a window in both directions. Bytes count as they move (the connection reports them
 * as the socket takes them); time spent on the server's own work (disk, handlers) is booked
 * separately so the peer is never judged for it. Knows nothing of sockets or messages.
 */
export class ConnectionClock {
  private bytesMoved = 0
  private windowStart = 0
  private windowMoved = 0
  private ownBusyMs = 0
  private ownBusySince: number | null = null
  /** Bytes per second over the last judged window; Infinity until one has been judged. */
  private lastRate = Infinity
  private readonly timers = new Map<TimerName, NodeJS.Timeout>()
  private deadlineAt = 0
  private inRequest = false
  private headPending = false
  private idleSinceMs = Date.now()

  constructor(
    private readonly limits: ClockLimits,
    private readonly alarms: ClockAlarms,
  ) {
    this.armIdle()
  }

  /** A request is in progress (from its first byte until its answer has been sent). */
  get requestActive(): boolean {
    return this.inRequest
  }

  /** A request has started but its frame header or request head is not complete yet. */
  get awaitingHead(): boolean {
    return this.headPending
  }

  /** When the connection last became idle (ms since the epoch). */
  get idleSince(): number {
    return this.idleSinceMs
  }

  /**
   * Progress of the request in progress, in bytes per second: over the window so far once it has
   * lasted a second of waiting on the peer, else over the last judged window (Infinity before any).
   */
  get recentRate(): number {
    if (!this.inRequest) return Infinity
    const now = performance.now()
    const busy = this.ownBusyMs + (this.ownBusySince === null ? 0 : now - this.ownBusySince)
    const peerTime = now - this.windowStart - busy
    if (peerTime < 1000) return this.lastRate
    return ((this.bytesMoved - this.windowMoved) * 1000) / peerTime
  }

  /** Bytes moved in either direction, counted when the socket read them or took them for sending. */
  moved(bytes: number): void {
    this.bytesMoved += bytes
  }

  /** The first byte of a request arrived. */
  startRequest(): void {
    if (this.inRequest) return
    this.inRequest = true
    this.headPending = true
    this.lastRate = Infinity
    this.clear('idle')
    this.resetWindow()
    this.set(
      'header',
      timer(this.limits.headerTimeoutMs, () => {
        this.alarms.headerTimeout()
      }),
    )
    const rate = setInterval(() => {
      this.judgeWindow()
    }, this.limits.rateWindowMs)
    rate.unref()
    this.set('rate', rate)
  }

  /** The request head is complete; `announcedBytes`, the frame's length, sets the request's deadline. */
  headComplete(announcedBytes: number): void {
    if (!this.inRequest || !this.headPending) return
    this.headPending = false
    this.clear('header')
    this.deadlineAt = performance.now() + this.limits.deadlineSlackMs
    this.allow(announcedBytes)
  }

  /** Extends the request's deadline by the time `bytes` more may take at the minimum average rate (a response's data). */
  allow(bytes: number): void {
    if (!this.inRequest) return
    this.deadlineAt += (bytes / this.limits.minAverageRate) * 1000
    this.set(
      'deadline',
      timer(Math.min(Math.max(0, this.deadlineAt - performance.now()), 2 ** 31 - 1), () => {
        this.alarms.deadline()
      }),
    )
  }

  /** The request has been answered. */
  finishRequest(): void {
    if (!this.inRequest) return
    this.inRequest = false
    this.headPending = false
    this.idleSinceMs = Date.now()
    this.clear('header')
    this.clear('deadline')
    this.clear('rate')
    this.armIdle()
  }

  /** Runs the server's own work (disk, handler) and books its time, so that the peer is not judged for it. */
  async own<T>(promise: Promise<T>): Promise<T> {
    const isNested = this.ownBusySince !== null
    if (!isNested) this.ownBusySince = performance.now()
    try {
      return await promise
    } finally {
      if (!isNested && this.ownBusySince !== null) {
        this.ownBusyMs += performance.now() - this.ownBusySince
        this.ownBusySince = null
      }
    }
  }

  /** Stops every timer (the connection is closing). */
  stop(): void {
    for (const handle of this.timers.values()) clearTimeout(handle)
    this.timers.clear()
  }

  private armIdle(): void {
    this.set(
      'idle',
      timer(this.limits.idleTimeoutMs, () => {
        this.alarms.idle()
      }),
    )
  }

  private set(name: TimerName, handle: NodeJS.Timeout): void {
    this.clear(name)
    this.timers.set(name, handle)
  }

  private clear(name: TimerName): void {
    const handle = this.timers.get(name)
    if (handle !== undefined) clearTimeout(handle)
    this.timers.delete(name)
  }

  private resetWindow(): void {
    this.windowStart = performance.now()
    this.windowMoved = this.bytesMoved
    this.ownBusyMs = 0
    if (this.ownBusySince !== null) this.ownBusySince = this.windowStart
  }

  private judgeWindow(): void {
    if (!this.inRequest) return
    const now = performance.now()
    const busy = this.ownBusyMs + (this.ownBusySince === null ? 0 : now - this.ownBusySince)
    const peerTime = now - this.windowStart - busy
    const moved = this.bytesMoved - this.windowMoved
    // Judge only windows spent mostly waiting on the peer.
    if (peerTime >= this.limits.rateWindowMs / 2) {
      this.lastRate = (moved * 1000) / peerTime
      if (moved < (this.limits.minRateBytes * peerTime) / this.limits.rateWindowMs) {
        this.alarms.tooSlow()
        return
      }
    }

    this.resetWindow()
  }
}
