import {CASE_FOLDING_RUNS} from './case-folding-table.js'

/** Code point -> its simple case folding; built on first use (about 1,450 entries). */
let folds: Map<number, number> | undefined

function foldMap(): Map<number, number> {
  if (folds !== undefined) return folds
  folds = new Map()
  for (let i = 0; i < CASE_FOLDING_RUNS.length; i += 4) {
    const [first, count, step, delta] = CASE_FOLDING_RUNS.slice(i, i + 4)
    for (let k = 0; k < count; k++) folds.set(first + k * step, first + k * step + delta)
  }
  return folds
}

// eslint-disable-next-line no-control-regex -- the ASCII range, controls included
const ASCII = /^[\u{0}-\u{7F}]*$/u

/**
 * Unicode simple case folding (CaseFolding.txt, statuses C and S): each code point maps to at most
 * one code point, so lengths in code points never change. Not toLowerCase(): that leaves final
 * sigma (U+03C2), long s (U+017F) and the Kelvin sign unfolded against their plain forms, and
 * Cherokee folds to upper case. Linear in the length of `text`.
 */
export function simpleCaseFold(text: string): string {
  // On ASCII, simple folding is A-Z -> a-z, which toLowerCase() also does (and fast).
  if (ASCII.test(text)) return text.toLowerCase()
  const map = foldMap()
  let out = ''
  for (const char of text) {
    const cp = char.codePointAt(0)!
    const folded = map.get(cp)
    out += folded === undefined ? char : String.fromCodePoint(folded)
  }
  return out
}
