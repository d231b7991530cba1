import {identityKey} from '../images/names.js'
import type {ItemResult} from '../protocol-command.js'

/**
 * Marks every item whose name has the same identity key (NFC, case-folded: Cat.jpg and cat.JPG are one image)
 * as another item's: both would be stored under one name, and which one the server keeps would depend on
 * timing. Each such item becomes a local error E_NAME_COLLISION naming the other file; the rest go on.
 * Returns the number of items marked.
 */
export function markNameCollisions<R extends ItemResult & {file: string; name: string | null}>(results: R[]): number {
  const byKey = new Map<string, R[]>()
  for (const result of results) {
    if (result.name === null || result.status === 'error') continue
    const key = identityKey(result.name)
    const group = byKey.get(key)
    if (group === undefined) byKey.set(key, [result])
    else group.push(result)
  }
  let marked = 0
  for (const group of byKey.values()) {
    if (group.length < 2) continue
    for (const result of group) {
      const others = group.filter((other) => other !== result).map((other) => other.file)
      Object.assign(result, {
        status: 'error',
        source: 'local',
        code: 'E_NAME_COLLISION',
        message:
          `would be stored as ${result.name}, as would ${others.join(', ')} (names are compared ` +
          'case-insensitively); rename one, or send it alone with --name',
      })
      marked++
    }
  }
  return marked
}
