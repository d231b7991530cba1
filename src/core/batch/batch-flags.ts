import {Flags} from '@oclif/core'

/**
 * Connections a batch uses when --parallel is not given. Measured with bench/sections/batch.js and by hand
 * (200 and 1,000 files of 100 KiB to and from a local `iss serve`, fsync on) on the shared 2-core machine: 4
 * lanes were the fastest or near it in most rounds (about 1.3 to 1.7 times one at a time), 8 gained nothing
 * more; the machine was saturated by other work, so the figures are noisy (the author's note has them).
 */
export const DEFAULT_PARALLEL = 4
/** More connections than this only take slots the server shares with other clients. */
export const MAX_PARALLEL = 32

/** --parallel, shared by put and get. */
export const parallelFlag = Flags.integer({
  max: MAX_PARALLEL,
  min: 1,
  summary: `Transfer up to N files at once, each over its own connection (default ${DEFAULT_PARALLEL} for a folder, a pattern or --all, else 1).`,
})

/** `iss put` batch flags. */
export const putBatchFlags = {
  parallel: parallelFlag,
  recursive: Flags.boolean({
    char: 'r',
    default: false,
    summary: 'With a folder: send the images of its subfolders too (each under its base name).',
  }),
}

/** `iss get` batch flags. */
export const downloadBatchFlags = {
  all: Flags.boolean({
    default: false,
    summary: 'Download every stored image (into -o DIR or the current folder).',
  }),
  parallel: parallelFlag,
}

/** The lane count of a run: --parallel when given, else the default for a batch, else 1 (one at a time). */
export function laneCount(parallel: number | undefined, batch: boolean): number {
  return parallel ?? (batch ? DEFAULT_PARALLEL : 1)
}
