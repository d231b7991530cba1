'use strict'
// Summaries of repeated measurements: medians resist the noise of a shared 2-core machine.

/** The median of numbers (null for none). */
function median(values) {
  const xs = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (xs.length === 0) return null
  const mid = xs.length >> 1
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2
}

/** The q-quantile (0..1) of an already sorted typed array or array, nearest rank. */
function quantileSorted(sorted, q) {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]
}

/** a / b, or null when either is missing. */
function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return null
  return a / b
}

module.exports = {median, quantileSorted, ratio}
