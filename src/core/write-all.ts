import type {FileHandle} from 'node:fs/promises'

/**
 * Writes every byte of `chunks` at the handle's current position, with one write or writev per
 * attempt and resuming after short writes. `progress.bytes` counts what reached the file, so that a
 * caller can say how much was written before a failure.
 */
export async function writeAll(
  handle: FileHandle,
  chunks: readonly Buffer[],
  progress: {bytes: number} = {bytes: 0},
): Promise<void> {
  let pending = chunks
  while (pending.length > 0) {
    const {bytesWritten} =
      pending.length === 1
        ? await handle.write(pending[0], 0, pending[0].length, null)
        : await handle.writev(pending as Buffer[])
    progress.bytes += bytesWritten
    pending = unwritten(pending, bytesWritten)
  }
}

/** What is left of `chunks` after the first `bytes` of them were written. */
function unwritten(chunks: readonly Buffer[], bytes: number): readonly Buffer[] {
  let skip = bytes
  let index = 0
  while (index < chunks.length && skip >= chunks[index].length) {
    skip -= chunks[index].length
    index++
  }

  if (index === chunks.length) return []
  const rest = chunks.slice(index)
  rest[0] = rest[0].subarray(skip)
  return rest
}
