const UNITS: Readonly<Record<string, number>> = {ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000}

/** A duration like `1h`, `30m`, `90s`, `500ms` or a plain number of seconds, in milliseconds. */
export function parseDuration(option: string, text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/u.exec(text)
  if (match === null) throw new RangeError(`${option}=${text} is not a duration (e.g. 1h, 30m, 90s, 500ms)`)
  const ms = Math.round(Number(match[1]) * UNITS[match[2] ?? 's'])
  if (ms < 1000) throw new RangeError(`${option}=${text} is shorter than one second`)
  return ms
}
