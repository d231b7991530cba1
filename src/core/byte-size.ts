const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
}

/**
 * Parses a size such as `1048576`, `256MiB`, `1GiB`, `10MB` or `1.5 GiB` into bytes. KiB/MiB/GiB
 * (and the bare K/M/G) are powers of 1024, kB/MB/GB powers of 1000, case-insensitive.
 * Throws a RangeError with a readable message for anything else.
 */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/iu.exec(text)
  const unit = match ? UNITS[match[2].toLowerCase()] : undefined
  if (!match || unit === undefined) {
    throw new RangeError(`'${text}' is not a size; use a number of bytes or a unit such as 256MiB, 1GiB or 10MB`)
  }

  const bytes = Math.floor(Number(match[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`'${text}' is too large`)
  return bytes
}

/** A size for people: `268435456` -> `256 MiB`. */
export function formatByteSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024
    unit++
  }

  return `${value} ${units[unit]}`
}

/** Sizes a person reads, whatever the number: `314572808` -> `300 MiB`, `1536` -> `1.5 KiB`. */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  const text = unit === 0 || Number.isSafeInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/u, '')
  return `${text} ${units[unit]}`
}
