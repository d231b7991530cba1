const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
}

/** Ten years: a longer lifetime is a typo, not a plan. */
const MAX_DURATION_MS = 3650 * 86_400_000

/** `30d`, `12h`, `90m`, `2w`, `45s` in ms; null when `text` is not one of those or is over ten years. */
export function parseDuration(text: string): number | null {
  const match = /^(\d{1,6})([smhdw])$/u.exec(text.trim())
  if (match === null) return null
  const ms = Number(match[1]) * UNIT_MS[match[2]]
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : null
}
