import {createHash} from 'node:crypto'
import {Transform} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {identityKey} from '../images/names.js'
import type {ImageStore, StoredImage} from './store.js'

/** What happened to one image of the source. */
export interface CopiedItem {
  readonly name: string
  /** copied; identical (already in the target with the same SHA-256); conflict (another image holds the name); error. */
  readonly status: 'copied' | 'identical' | 'conflict' | 'error'
  readonly size: number
  readonly sha256?: string
  readonly message?: string
  /** The failure's catalogue code, or E_DIGEST_MISMATCH when the target's bytes differ from the source's. */
  readonly code?: string
}

/** Images per listing page of the source. */
const PAGE = 1000

/** Lowercase hex SHA-256 of a stored image, from the store when it keeps one, else by reading it. */
async function digestOf(store: ImageStore, image: StoredImage): Promise<string> {
  const kept = (image as {sha256?: string}).sha256
  if (kept !== undefined) return kept
  const {stream} = await store.openRead(image.name)
  const hash = createHash('sha256')
  for await (const chunk of stream) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Hashes what passes through. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      callback(null, chunk)
    },
  })
}

/** Reads the copy back from the target: its SHA-256 must be the one of the bytes read from the source. */
async function copyOne(source: ImageStore, target: ImageStore, image: StoredImage): Promise<CopiedItem> {
  const opened = await source.openRead(image.name)
  const upload = await target.beginUpload(image.name, opened.image.size)
  const hash = createHash('sha256')
  try {
    await pipeline(opened.stream, hashing(hash), upload.sink)
  } catch (error) {
    await upload.abort()
    throw error
  }

  const stored = await upload.commit(image.name)
  const expected = hash.digest('hex')
  const actual = await digestOf(target, stored)
  if (actual !== expected) {
    return {
      name: image.name,
      status: 'error',
      size: stored.size,
      code: 'E_DIGEST_MISMATCH',
      message: `the copy of '${image.name}' reads back with SHA-256 ${actual}, not ${expected}`,
    }
  }

  return {name: stored.name, status: 'copied', size: stored.size, sha256: expected}
}

/**
 * Copies every image of `source` into `target`, keeping names (both stores open). An image whose
 * identity the target holds already is left alone: `identical` when the SHA-256 digests match (so a
 * second run copies nothing), else `conflict`. Every copy is read back and checked by SHA-256.
 * `onItem` hears each image as it is done; the source is listed page by page (memory bounded).
 */
export async function copyStore(
  source: ImageStore,
  target: ImageStore,
  onItem: (item: CopiedItem) => void,
): Promise<void> {
  let after: string | undefined
  for (;;) {
    const page = await source.list({after, limit: PAGE})
    if (page.length === 0) return
    for (const image of page) {
      let item: CopiedItem
      try {
        const existing = await target.stat(image.name)
        if (existing === null) {
          item = await copyOne(source, target, image)
        } else {
          const [mine, theirs] = await Promise.all([digestOf(source, image), digestOf(target, existing)])
          item =
            mine === theirs
              ? {name: image.name, status: 'identical', size: image.size, sha256: mine}
              : {
                  name: image.name,
                  status: 'conflict',
                  size: image.size,
                  code: 'E_DUPLICATE',
                  message: `the target holds other bytes under '${existing.name}'`,
                }
        }
      } catch (error) {
        const {code, message} = error as {code?: string; message?: string}
        item = {name: image.name, status: 'error', size: image.size, code, message}
      }

      onItem(item)
    }

    after = identityKey(page.at(-1)!.name)
  }
}
