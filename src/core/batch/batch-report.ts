import {printable} from '../printable.js'
import type {ItemResult} from '../protocol-command.js'
import {formatBytes} from '../transfer-progress.js'
import type {LaneObserver} from './lanes.js'
import {clearProgressLine, drawProgressLine} from './progress-line.js'

/** The one-line summary of a batch, and the `summary` object of its --json output. */
export interface BatchSummary {
  /** Items done (stored, or saved in place). */
  sent: number
  /** Items already stored with the same SHA-256 (put --skip-identical). */
  identical: number
  /** Items not attempted: non-images in a folder, or items after a failure of the whole command. */
  skipped: number
  /** Items that failed. */
  failed: number
  /** Bytes of the items done. */
  bytes: number
  /** Wall time of the transfers, in seconds. */
  seconds: number
  /** bytes / seconds (0 when nothing was sent). */
  bytesPerSecond: number
}

/** Redraws at most this often: a terminal cannot show more, and each draw is a write. */
const DRAW_INTERVAL_MS = 100

/**
 * Progress and summary of a batch (a folder, a pattern, --all, --parallel): on a terminal, one line on stderr
 * with the current file, files done of total and bytes, redrawn in place; at the end one summary line (sent,
 * identical, skipped, failed, time, rate) on stderr, or the summary object with --json.
 */
export class BatchReport<R extends ItemResult & {bytes: number}> {
  private readonly startedAt = performance.now()
  private readonly inFlight = new Set<R>()
  private done = 0
  private bytes = 0
  private lastDraw = 0
  private readonly active: boolean

  constructor(
    private readonly total: number,
    private readonly label: (item: R) => string,
    options: {enabled: boolean; totalBytes?: number; stream?: NodeJS.WriteStream},
  ) {
    this.stream = options.stream ?? process.stderr
    this.totalBytes = options.totalBytes
    this.active = options.enabled && this.stream.isTTY
  }

  private readonly stream: NodeJS.WriteStream
  private readonly totalBytes: number | undefined

  /** What performEach's lanes report to. */
  get observer(): LaneObserver<R> {
    return {
      begin: (item) => {
        this.inFlight.add(item)
        this.draw()
      },
      end: (item) => {
        this.inFlight.delete(item)
        this.done++
        this.draw(true)
      },
      bytes: (delta) => {
        this.bytes += delta
        this.draw()
      },
    }
  }

  /** The counts of `results` and the time since this report was made. */
  summarize(results: readonly R[]): BatchSummary {
    const seconds = (performance.now() - this.startedAt) / 1000
    const count = (status: ItemResult['status']) => results.filter((result) => result.status === status).length
    const bytes = results.filter((result) => result.status === 'ok').reduce((sum, result) => sum + result.bytes, 0)
    return {
      sent: count('ok'),
      identical: count('identical'),
      skipped: count('skipped'),
      failed: count('error'),
      bytes,
      seconds: Math.round(seconds * 1000) / 1000,
      bytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : 0,
    }
  }

  /** Clears the progress line and prints the summary line on stderr. */
  finish(summary: BatchSummary, verb: string): void {
    clearProgressLine()
    this.stream.write(`${summaryLine(summary, verb)}\n`)
  }

  private draw(force = false): void {
    if (!this.active) return
    const now = performance.now()
    if (!force && now - this.lastDraw < DRAW_INTERVAL_MS) return
    this.lastDraw = now
    const of = this.totalBytes === undefined ? '' : ` of ${formatBytes(this.totalBytes)}`
    const current = [...this.inFlight].map((item) => printable(this.label(item), 40)).join(', ')
    drawProgressLine(this.stream, `[${this.done}/${this.total}] ${formatBytes(this.bytes)}${of}  ${current}`)
  }
}

/** "500 sent, 0 identical, 3 skipped, 0 failed: 48.8 MiB in 2.1 s (23.2 MiB/s)". */
export function summaryLine(summary: BatchSummary, verb: string): string {
  const rate = summary.seconds > 0 ? ` (${formatBytes(summary.bytesPerSecond)}/s)` : ''
  const identical = summary.identical > 0 ? `, ${summary.identical} identical` : ''
  return (
    `${summary.sent} ${verb}${identical}, ${summary.skipped} skipped, ${summary.failed} failed: ` +
    `${formatBytes(summary.bytes)} in ${summary.seconds.toFixed(1)} s${rate}`
  )
}
