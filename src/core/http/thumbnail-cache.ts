import {createHash, randomBytes} from 'node:crypto'
import {access, mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {identityKey} from '../images/names.js'
import type {StoredImage} from '../store/store.js'

/** What is known of an image once its thumbnail was attempted. */
export interface ThumbnailFacts {
  /** The original's size in pixels, when its header could be read. */
  readonly width: number | null
  readonly height: number | null
  /** True when the image could not be made into a thumbnail (undecodable, too many pixels, too large). */
  readonly placeholder: boolean
}

/**
 * Thumbnails kept as derived data in their own folder, outside the store's image namespace: one
 * WebP and one small JSON of facts per stored image version, named by a digest of the identity key,
 * size and modification time (a new image under an old name never gets the old thumbnail). Files are
 * written under a temporary name and renamed, so a crash never leaves a half-written thumbnail.
 */
export class ThumbnailCache {
  constructor(readonly dir: string) {}

  /** The digest naming one image version's files. */
  static keyOf(image: StoredImage): string {
    return createHash('sha256')
      .update(`${identityKey(image.name)}\0${image.size}\0${image.modifiedMs}`)
      .digest('hex')
      .slice(0, 40)
  }

  /** Path of the WebP thumbnail (it may not exist). */
  thumbnailPath(image: StoredImage): string {
    const key = ThumbnailCache.keyOf(image)
    return join(this.dir, key.slice(0, 2), `${key}.webp`)
  }

  private factsPath(image: StoredImage): string {
    const key = ThumbnailCache.keyOf(image)
    return join(this.dir, key.slice(0, 2), `${key}.json`)
  }

  /** The facts recorded for this version, or null when none were made yet (or its files were removed). */
  async facts(image: StoredImage): Promise<ThumbnailFacts | null> {
    try {
      const parsed = JSON.parse(await readFile(this.factsPath(image), 'utf8')) as Partial<ThumbnailFacts>
      // A thumbnail removed from the cache by hand is made again.
      if (parsed.placeholder !== true) await access(this.thumbnailPath(image))
      return {
        width: typeof parsed.width === 'number' ? parsed.width : null,
        height: typeof parsed.height === 'number' ? parsed.height : null,
        placeholder: parsed.placeholder === true,
      }
    } catch {
      return null
    }
  }

  /** Records a thumbnail (null for a placeholder) and its facts; the facts file goes last, it marks completion. */
  async save(image: StoredImage, thumbnail: Buffer | null, facts: ThumbnailFacts): Promise<void> {
    const path = this.thumbnailPath(image)
    await mkdir(join(path, '..'), {recursive: true})
    if (thumbnail !== null) await atomicWrite(path, thumbnail)
    await atomicWrite(this.factsPath(image), Buffer.from(JSON.stringify(facts)))
  }

  /** Removes one version's files (the image was deleted or renamed). */
  async remove(image: StoredImage): Promise<void> {
    await Promise.all([rm(this.thumbnailPath(image), {force: true}), rm(this.factsPath(image), {force: true})])
  }
}

async function atomicWrite(path: string, data: Buffer): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(temporary, data)
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  }
}
