import type {StoredImage} from '../store/store.js'

/**
 * Content-Disposition for a stored name (RFC 6266): an ASCII fallback in `filename` (every other
 * character, quote, backslash and percent replaced by `_`) and the exact name in `filename*`
 * (RFC 5987: UTF-8, percent-encoded, only attr-chars left bare).
 */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const fallback = name.replaceAll(/[^\u0020-\u007E]|["%\\]/g, '_')
  const encoded = encodeURIComponent(name).replaceAll(
    /['()*]/g,
    (character) => '%' + character.codePointAt(0)!.toString(16).toUpperCase(),
  )
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`
}

/** A strong validator for one stored image version: its SHA-256 when the store keeps it, else size and time. */
export function etagOf(image: StoredImage): string {
  const {sha256} = image as StoredImage & {sha256?: string}
  if (typeof sha256 === 'string' && /^[\da-f]{64}$/.test(sha256)) return `"${sha256}"`
  return `"${image.size.toString(16)}-${Math.floor(image.modifiedMs).toString(16)}"`
}

/** True when If-None-Match (any of its tags, weak or strong, or `*`) names the current ETag. */
export function matchesNoneMatch(header: string, etag: string): boolean {
  if (header.trim() === '*') return true
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)
}

/** True when If-Modified-Since is at or after the image's time (HTTP dates have whole seconds). */
export function notModifiedSince(header: string, modifiedMs: number): boolean {
  const since = Date.parse(header)
  return Number.isFinite(since) && Math.floor(modifiedMs / 1000) * 1000 <= since
}

/** A satisfiable single byte range, inclusive `end`. */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

/**
 * Reads a Range header for an image of `size` bytes: a range to send (206), 'unsatisfiable' (416),
 * or null to send the whole image (no header, another unit, several ranges, or a malformed one:
 * RFC 9110 lets a server ignore what it does not support).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (match === null) return null
  const [, first, last] = match
  if (first === '' && last === '') return null
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return {start: Math.max(0, size - suffix), end: size - 1}
  }

  const start = Number(first)
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (last !== '' && Number(last) < start) return null
  if (start >= size) return 'unsatisfiable'
  return {start, end}
}
