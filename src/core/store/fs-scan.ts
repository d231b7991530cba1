import {type Dirent, lstatSync} from 'node:fs'
import {opendir} from 'node:fs/promises'
import path from 'node:path'
import {setImmediate as yieldToLoop} from 'node:timers/promises'

import {identityKey, validateImageName} from '../images/names.js'
import {compareCodePoints} from './name-index.js'
import type {StoredImage} from './store.js'

/** An entry of the store folder that is not served, and why (from a folder edited by hand). */
export interface HiddenEntry {
  /** The entry's name (invalid UTF-8 shown with U+FFFD). */
  readonly name: string
  readonly reason: string
}

/** What a start-up scan of the store folder found. */
export interface ScanResult {
  readonly images: Map<string, StoredImage>
  readonly hidden: HiddenEntry[]
}

const STAT_BATCH = 2000
const UTF8 = new TextDecoder('utf-8', {fatal: true})
const LENIENT_UTF8 = new TextDecoder('utf-8')

/**
 * Reads the store folder: every regular file whose name iss could have stored under exactly that
 * name, by identity key. Everything else that is not dot-named (iss's own) is reported as hidden,
 * with the reason, so that a folder edited by hand does not lose images from LIST without a word.
 */
export async function scanStore(root: string): Promise<ScanResult> {
  const hidden: HiddenEntry[] = []
  const images = new Map<string, StoredImage>()
  // Entries stream from the directory a batch at a time: a whole readdir of a million names is a
  // million Dirents and name Buffers at once, and the C heap they fragment is never given back,
  // so the server would idle at several times the size of its index.
  // Node honours encoding 'buffer' here as for readdir (names as raw bytes, so that a name that is not
  // UTF-8 can be reported), though its type declares only string encodings.
  const directory = await opendir(root, {encoding: 'buffer' as BufferEncoding, bufferSize: 256})
  let batch: string[] = []
  for await (const entry of directory) {
    const name = storableName(entry as unknown as Dirent<Buffer>, hidden)
    if (name !== null) batch.push(name)
    if (batch.length === STAT_BATCH) {
      // Synchronous lstat is several times faster than the thread pool for 100,000 small calls;
      // yielding between batches keeps the process responsive during a large start-up scan.
      for (const each of batch) indexFile(root, images, hidden, each)
      batch = []
      await yieldToLoop()
    }
  }

  for (const each of batch) indexFile(root, images, hidden, each)
  return {images, hidden}
}

function indexFile(root: string, found: Map<string, StoredImage>, hidden: HiddenEntry[], name: string): void {
  const stat = lstatSync(path.join(root, name), {throwIfNoEntry: false})
  if (!stat?.isFile()) return
  const key = identityKey(name)
  const other = found.get(key)
  // Two files of one identity key (copied in by hand on a case-sensitive disk): the same one wins every start.
  if (other !== undefined && compareCodePoints(other.name, name) <= 0) {
    hidden.push({name, reason: `same name as '${other.name}' (names are compared case-insensitively)`})
    return
  }

  if (other !== undefined) {
    hidden.push({name: other.name, reason: `same name as '${name}' (names are compared case-insensitively)`})
  }

  found.set(key, Object.freeze({name, size: stat.size, modifiedMs: stat.mtimeMs}))
}

/** The entry's name if it is a regular file iss could have stored under exactly that name, else null. */
function storableName(entry: Dirent<Buffer>, hidden: HiddenEntry[]): string | null {
  let name: string
  try {
    name = UTF8.decode(entry.name)
  } catch {
    hidden.push({name: LENIENT_UTF8.decode(entry.name), reason: 'the name is not valid UTF-8'})
    return null
  }

  // iss's own entries (lock, temporary folder) and hidden files are never images.
  if (name.startsWith('.')) return null
  // Dirent types come from lstat semantics: a symbolic link is never isFile().
  if (entry.isSymbolicLink()) {
    hidden.push({name, reason: 'a symbolic link (never served)'})
    return null
  }

  if (!entry.isFile()) {
    hidden.push({name, reason: entry.isDirectory() ? 'a folder (only files are served)' : 'not a regular file'})
    return null
  }

  let valid: string
  try {
    valid = validateImageName(name)
  } catch (error) {
    hidden.push({name, reason: (error as Error).message})
    return null
  }

  if (valid !== name) {
    hidden.push({name, reason: 'the name is not in Unicode NFC form (iss stores names as NFC)'})
    return null
  }

  return name
}
