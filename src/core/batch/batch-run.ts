import type {ItemResult} from '../protocol-command.js'
import {BatchReport, type BatchSummary} from './batch-report.js'
import {laneCount} from './batch-flags.js'
import type {LaneObserver} from './lanes.js'

/** A batch in progress: what performEach runs the items with, and how the command's result ends. */
export interface BatchRun<R extends ItemResult> {
  lanes: {count: number; observer: LaneObserver<R>}
  /** The results (the items, then those never meant to be sent) and the summary, printed on stderr unless --json. */
  finish(): {results: R[]; summary: BatchSummary}
}

export interface BatchOptions<R extends ItemResult & {bytes: number}> {
  /** True for a folder, a pattern, --all or an explicit --parallel: a batch's progress, summary and lanes. */
  active: boolean
  /** --parallel as given. */
  parallel: number | undefined
  json: boolean
  /** The items, as performEach takes them. */
  results: R[]
  /** Items never meant to be sent (a folder's non-images), `skipped` with their reason; reported after the rest. */
  notSent?: R[]
  /** The item's name for the progress line. */
  label: (result: R) => string
  /** The summary's verb: "sent", "received". */
  verb: string
  /** Bytes to send, when known before (uploads). */
  totalBytes?: number
}

/**
 * Starts the progress of a batch (src/core/batch/batch-report.ts) and says how many lanes it runs on; undefined
 * when the command runs as a plain list of items (no progress line, no summary, one connection), so that the
 * output of `iss put a.png b.png` stays what it was.
 */
export function startBatch<R extends ItemResult & {bytes: number}>(options: BatchOptions<R>): BatchRun<R> | undefined {
  if (!options.active) return undefined
  const pending = options.results.filter((result) => result.status === 'skipped').length
  const report = new BatchReport<R>(pending, options.label, {enabled: !options.json, totalBytes: options.totalBytes})
  return {
    lanes: {count: laneCount(options.parallel, true), observer: report.observer},
    finish() {
      const results = [...options.results, ...(options.notSent ?? [])]
      const summary = report.summarize(results)
      if (!options.json) report.finish(summary, options.verb)
      return {results, summary}
    },
  }
}
