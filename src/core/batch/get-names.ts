import {UsageError} from '../errors.js'
import {identityKey} from '../images/names.js'
import {isNamePattern, namePattern} from './name-pattern.js'

/** What `iss get` downloads: names (as given, or as stored for a pattern's matches) and patterns that matched none. */
export interface GetNames {
  names: string[]
  unmatched: string[]
}

/** True when `iss get` runs as a batch: --all, or at least one pattern among its arguments. */
export function isGetBatch(args: readonly string[], all: boolean): boolean {
  return all || args.some((argument) => isNamePattern(argument))
}

/**
 * Expands patterns (`'*.png'`, matched against LIST as names compare: case-insensitively) and --all into stored
 * names, once each: a name given as is stays as given, in its place; a pattern's matches follow in the server's
 * order unless already named. `list` is called only for a batch. Throws a UsageError for a pattern with an
 * unclosed `[`.
 */
export async function expandGetNames(
  args: readonly string[],
  all: boolean,
  list: () => Promise<string[]>,
): Promise<GetNames> {
  if (!isGetBatch(args, all)) return {names: [...args], unmatched: []}
  const matchers = new Map<string, (name: string) => boolean>()
  for (const argument of args) {
    if (!isNamePattern(argument)) continue
    try {
      matchers.set(argument, namePattern(argument))
    } catch (error) {
      throw new UsageError((error as Error).message)
    }
  }
  const stored = await list()
  const taken = new Set(args.filter((argument) => !isNamePattern(argument)).map((argument) => identityKey(argument)))
  const names: string[] = []
  const unmatched: string[] = []
  const add = (name: string) => {
    const key = identityKey(name)
    if (taken.has(key)) return
    taken.add(key)
    names.push(name)
  }
  for (const argument of args) {
    const matcher = matchers.get(argument)
    if (matcher === undefined) {
      names.push(argument)
      continue
    }
    const matches = stored.filter((name) => matcher(name))
    if (matches.length === 0) unmatched.push(argument)
    for (const name of matches) add(name)
  }
  if (all) for (const name of stored) add(name)
  return {names, unmatched}
}
