/**
 * JSON text that is safe to print: JSON.stringify escapes C0 controls and lone surrogates but writes C1
 * controls (U+0080-U+009F, including U+009B, which terminals honour like ESC [), DEL, the line and paragraph
 * separators and the bidirectional controls (U+202E...) raw. This post-pass escapes those as `\uXXXX`, the
 * same set as printable() (src/core/printable.ts), so the text still parses to the same value and cannot
 * steer a terminal or reorder what a person reads. Such characters occur only inside JSON strings, so the
 * pass never touches the document's structure.
 */
const UNSAFE_IN_JSON = /[\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/gu

/** `json` (JSON text) with every raw C1, DEL, separator or bidi control escaped as `\uXXXX`. */
export function escapeJsonText(json: string): string {
  return json.replaceAll(UNSAFE_IN_JSON, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)
}

/** JSON.stringify, then {@link escapeJsonText}: the one way iss prints JSON a person may see. */
export function safeJsonStringify(value: unknown, space?: number): string {
  return escapeJsonText(JSON.stringify(value, null, space))
}
