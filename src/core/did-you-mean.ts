import {distance} from 'fastest-levenshtein'

/**
 * The candidate nearest to what was typed, when it is near enough to be a typo (an edit distance of at most
 * a third of its length, and 2 for short words, a swap of two letters: `lsit` -> `list`, `gte` -> `get`,
 * `--hots` -> `--host`);
 * undefined otherwise, so that no far-fetched suggestion is printed.
 */
export function nearest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = distance(typed.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  const allowed = Math.max(2, Math.ceil(typed.length / 3))
  return bestDistance > 0 && bestDistance <= allowed ? best : undefined
}

/** `iss: unknown flag --hots; did you mean --host? (iss list --help lists them)` for oclif's NonExistentFlagsError. */
export function unknownFlagLine(
  bin: string,
  commandId: string,
  typed: readonly string[],
  flags: Record<string, {char?: string}>,
): string {
  const known = Object.entries(flags).flatMap(([name, flag]) => [
    `--${name}`,
    ...(flag.char === undefined ? [] : [`-${flag.char}`]),
  ])
  const parts = typed.map((flag) => {
    const guess = nearest(flag.split('=', 1)[0], known)
    return guess === undefined ? `unknown flag ${flag}` : `unknown flag ${flag}; did you mean ${guess}?`
  })
  return `${bin}: ${parts.join('; ')} (${bin} ${commandId} --help lists them)`
}

/**
 * The one line for oclif's NonExistentFlagsError (`Nonexistent flag: --hots`), with the nearest flag of the
 * command for each; undefined for any other error. Every command's catch() can use it.
 */
export function unknownFlagMessage(
  error: unknown,
  bin: string,
  commandId: string,
  flags: Record<string, {char?: string}>,
): string | undefined {
  const typos = (error as {flags?: unknown}).flags
  if (!(error instanceof Error) || !Array.isArray(typos) || !error.message.startsWith('Nonexistent flag')) {
    return undefined
  }
  return unknownFlagLine(bin, commandId, typos.map(String), flags)
}
