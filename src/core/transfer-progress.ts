import type cliProgress from 'cli-progress'

import type {TransferObserver} from './transport/client-connection.js'

/** Transfers smaller than this show no bar: they finish before a bar says anything useful. */
export const PROGRESS_THRESHOLD_BYTES = 1024 * 1024

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`
}

/** A progress bar for one transfer, as a TransferObserver; `stop()` clears it. */
export interface TransferProgress extends TransferObserver {
  start(total: number): void
  update(done: number): void
  stop(): void
}

/**
 * A progress bar on stderr for one transfer of about a MiB or more. It draws nothing unless `enabled`
 * (the caller passes false for --json) and stderr is a terminal, so piped output stays clean.
 */
export function transferProgress(label: string, enabled: boolean, stream: NodeJS.WriteStream = process.stderr) {
  const active = enabled && stream.isTTY
  let bar: cliProgress.SingleBar | undefined
  const progress: TransferProgress = {
    start(total: number) {
      if (!active || bar !== undefined || total < PROGRESS_THRESHOLD_BYTES) return
      // Loaded only when a bar is drawn: most commands never draw one, and it is 16 modules to start.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const {Presets, SingleBar} = require('cli-progress') as typeof cliProgress
      bar = new SingleBar(
        {
          stream,
          // eslint-disable-next-line unicorn/no-incorrect-template-string-interpolation -- {bar} etc. are cli-progress placeholders, not JS
          format: `${label} [{bar}] {percentage}% {done}/{size} {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
          fps: 10,
        },
        Presets.shades_classic,
      )
      bar.start(total, 0, {done: formatBytes(0), size: formatBytes(total)})
    },
    update(done: number) {
      bar?.update(done, {done: formatBytes(done)})
    },
    stop() {
      bar?.stop()
      bar = undefined
    },
  }
  return progress
}
