import {createHash} from 'node:crypto'
import {constants as fsConstants} from 'node:fs'
import {type FileHandle, mkdir, open, readFile, unlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {SHA256_PATTERN} from './digest-upload.js'

/** The hidden folder of digest records inside an fs store (dot-named: never scanned as images). */
export const DIGEST_DIR = '.iss-sha256'

/** Digests kept in memory: about 150 bytes each, so a few MB, whatever the store's size. */
const CACHE_ENTRIES = 20_000
/** Bytes per read when a digest is rebuilt from an image's file. */
const HASH_CHUNK = 1024 * 1024
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0

/** What a record says of the file it was made for: a record whose facts differ is stale. */
export interface DigestFacts {
  /** The stored name (NFC, case as stored). */
  readonly name: string
  readonly size: number
  readonly modifiedMs: number
}

interface DigestRecord extends DigestFacts {
  readonly sha256: string
}

/**
 * The SHA-256 of each image of a filesystem store, kept beside the images in `.iss-sha256/`: one small
 * JSON record per identity key (file named by the SHA-256 of the key, so any name fits in 64 bytes).
 * A record names the image's name, size and modification time; one that no longer matches the file
 * (an image replaced or edited by hand) is ignored and rebuilt. Records are written before the image is
 * published and are not fsynced: a record lost or torn by a crash is rebuilt by hashing the image the
 * next time its digest is needed, so a digest is either right or absent, never wrong.
 */
export class DigestBook {
  private readonly cache = new Map<string, DigestRecord>()
  private readonly directory: string

  constructor(root: string) {
    this.directory = path.join(root, DIGEST_DIR)
  }

  private fileOf(key: string): string {
    return path.join(this.directory, createHash('sha256').update(key).digest('hex'))
  }

  /** Remembers `sha256` for the image `facts` describe (under identity key `key`). */
  async record(key: string, facts: DigestFacts, sha256: string): Promise<void> {
    const record: DigestRecord = {name: facts.name, size: facts.size, modifiedMs: facts.modifiedMs, sha256}
    this.remember(key, record)
    const file = this.fileOf(key)
    try {
      await writeFile(file, JSON.stringify(record), {mode: 0o600})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      // The folder is made with the first record, so a store that never received an image has none.
      await mkdir(this.directory, {recursive: true, mode: 0o700})
      await writeFile(file, JSON.stringify(record), {mode: 0o600})
    }
  }

  /** The kept digest of the image `facts` describe, or undefined when there is none that matches it. */
  async lookup(key: string, facts: DigestFacts): Promise<string | undefined> {
    const cached = this.cache.get(key)
    if (cached !== undefined && matches(cached, facts)) return cached.sha256
    let record: DigestRecord
    try {
      record = JSON.parse(await readFile(this.fileOf(key), 'utf8')) as DigestRecord
    } catch {
      return undefined
    }

    if (typeof record.sha256 !== 'string' || !SHA256_PATTERN.test(record.sha256) || !matches(record, facts))
      return undefined
    this.remember(key, record)
    return record.sha256
  }

  /**
   * The digest of the image, rebuilt from `handle` (the image's open file, `facts.size` bytes) when no
   * record matches: images copied into the folder by hand get theirs the first time it is asked for.
   */
  async digestOf(key: string, facts: DigestFacts, handle?: FileHandle): Promise<string> {
    const kept = await this.lookup(key, facts)
    if (kept !== undefined) return kept
    const sha256 = handle === undefined ? await hashPath(facts.name, this.directory) : await hashHandle(handle)
    await this.record(key, facts, sha256).catch(() => undefined)
    return sha256
  }

  /** Forgets the digest of a removed image. */
  async forget(key: string): Promise<void> {
    this.cache.delete(key)
    await unlink(this.fileOf(key)).catch(() => undefined)
  }

  private remember(key: string, record: DigestRecord): void {
    this.cache.delete(key)
    this.cache.set(key, record)
    // Map order is insertion order: the first key is the least recently used.
    if (this.cache.size > CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!)
  }
}

function matches(record: DigestFacts, facts: DigestFacts): boolean {
  return record.name === facts.name && record.size === facts.size && record.modifiedMs === facts.modifiedMs
}

/** SHA-256 of everything in an open file, read from position 0. */
async function hashHandle(handle: FileHandle): Promise<string> {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(HASH_CHUNK)
  for (let position = 0; ;) {
    const {bytesRead} = await handle.read(buffer, 0, buffer.length, position)
    if (bytesRead === 0) break
    hash.update(buffer.subarray(0, bytesRead))
    position += bytesRead
  }

  return hash.digest('hex')
}

/** SHA-256 of the image `name` in the store folder above `digestDirectory`, never through a symbolic link. */
async function hashPath(name: string, digestDirectory: string): Promise<string> {
  const handle = await open(path.join(path.dirname(digestDirectory), name), fsConstants.O_RDONLY | O_NOFOLLOW)
  try {
    return await hashHandle(handle)
  } finally {
    await handle.close()
  }
}
