import {open} from 'node:fs/promises'
import {Readable} from 'node:stream'
import {FileChangedError} from './errors.js'

export {FileChangedError} from './errors.js'

/** A file as it was checked before sending: what is sent must still be exactly this. */
export interface FileSnapshot {
  size: number
  mtimeMs: number
}

/** Bytes read from disk per chunk. */
const CHUNK = 1024 * 1024

/**
 * The file's bytes, exactly `snapshot.size` of them. Its last chunk is held back until the file's size and
 * modification time have been checked again after reading it: a file that grew, shrank or was rewritten while
 * it streamed ends the stream with FileChangedError instead, so the server never gets a complete frame and
 * stores nothing (a writer still appending to a screenshot or a download is the usual cause).
 */
export function verifiedFileStream(file: string, snapshot: FileSnapshot): Readable {
  return Readable.from(chunks(file, snapshot), {objectMode: false})
}

async function* chunks(file: string, snapshot: FileSnapshot): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r')
  try {
    let position = 0
    let held: Buffer | undefined
    while (position < snapshot.size) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, snapshot.size - position))
      const {bytesRead} = await handle.read(buffer, 0, buffer.length, position)
      if (bytesRead === 0) throw new FileChangedError(`it shrank to ${position} of ${snapshot.size} bytes`)
      if (held !== undefined) yield held
      held = buffer.subarray(0, bytesRead)
      position += bytesRead
    }
    const after = await handle.stat()
    if (after.size !== snapshot.size) {
      throw new FileChangedError(`it changed size from ${snapshot.size} to ${after.size} bytes`)
    }
    if (after.mtimeMs !== snapshot.mtimeMs) throw new FileChangedError('it was modified')
    if (held !== undefined) yield held
  } finally {
    await handle.close()
  }
}
