import {unlink} from 'node:fs/promises'
import path from 'node:path'

import {errors} from '../errors.js'
import {identityKey, validateImageName} from '../images/names.js'
import {publishWithoutReplacing} from '../publish-no-replace.js'
import type {KeyedMutex} from './key-mutex.js'
import type {NameIndex} from './name-index.js'
import type {StoredImage} from './store.js'
import {asStoreError} from './temp-file-sink.js'

/** What a rename needs of the filesystem store: its folder, its index and its per-key lock. */
export interface FsRenameTarget {
  readonly root: string
  readonly index: NameIndex
  readonly keys: KeyedMutex
  /** fsync the folder after each step (the store's `fsync` option). */
  readonly fsync: boolean
  readonly syncDirectory: (dir: string) => Promise<void>
}

/**
 * Gives the stored image `from` the name `to` without ever replacing another image: under the locks
 * of both identity keys (taken in sorted order, so two crossing renames cannot deadlock), the file is
 * hard-linked under the new name (link() fails if anything has that name), then the old name is
 * unlinked. Readers holding the file open keep reading it. `to` may differ from `from` only in case
 * (the same identity key) to change how the name is written.
 *
 * @throws {IssError} E_NOT_FOUND when `from` is not stored; E_DUPLICATE when another image (or any
 *   entry of the folder) has the name `to`, or `to` is exactly the stored name; E_BAD_NAME or
 *   E_UNSUPPORTED_TYPE for an invalid `to`; store errors (E_NO_SPACE, E_READ_ONLY) from the filesystem.
 */
export async function renameWithoutReplacing(store: FsRenameTarget, from: string, to: string): Promise<StoredImage> {
  const fromKey = identityKey(from)
  const target = validateImageName(to)
  const toKey = identityKey(target)
  const [first, second] = [fromKey, toKey].sort()
  const locked = async <T>(task: () => Promise<T>): Promise<T> =>
    first === second ? store.keys.run(first, task) : store.keys.run(first, async () => store.keys.run(second, task))

  return locked(async () => {
    const image = store.index.get(fromKey)
    if (image === undefined) throw errors.notFound(from)
    const taken = store.index.get(toKey)
    if (image.name === target || (taken !== undefined && taken !== image)) throw errors.duplicate(taken?.name ?? target)
    const oldPath = path.join(store.root, image.name)
    try {
      if (!(await publishWithoutReplacing(oldPath, path.join(store.root, target), {keepSource: true}))) {
        throw errors.duplicate(target)
      }

      try {
        // Gone already when the filesystem has no hard links and the name was moved instead.
        await unlink(oldPath).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        })
      } catch (error) {
        // The old name stays: take the new one back, so that the image keeps exactly one name.
        await unlink(path.join(store.root, target)).catch(() => undefined)
        throw error
      }

      if (store.fsync) await store.syncDirectory(store.root)
    } catch (error) {
      throw asStoreError(error, 0)
    }

    const renamed: StoredImage = Object.freeze({...image, name: target})
    store.index.delete(fromKey)
    store.index.set(toKey, renamed)
    return renamed
  })
}
