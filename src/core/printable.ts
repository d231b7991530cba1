/**
 * The one rule for showing a peer's text to a person (terminal, log, error message): C0 and C1
 * controls, DEL, the line and paragraph separators, the bidirectional controls (U+200E, U+200F,
 * U+061C, U+202A-U+202E, U+2066-U+2069) and lone surrogates become `\uXXXX` escapes, so no string a
 * server or client sends can move the cursor, set a window title (OSC), plant a hyperlink (OSC 8),
 * forge a line or reverse the text that follows it. Bidi controls: Unicode UAX #9; C1 includes
 * U+009B (CSI), which terminals honour like ESC [.
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex -- escaping control characters is the point
  /[\u{0}-\u{1F}\u{7F}-\u{9F}\u{061C}\u{200E}\u{200F}\u{2028}\u{2029}\u{202A}-\u{202E}\u{2066}-\u{2069}]|\p{Cs}/gu

/**
 * `text` with every unsafe character escaped; at most `maxLength` UTF-16 units of output before a
 * trailing `...` (default 300, so a hostile megabyte of text costs one line).
 */
export function printable(text: string, maxLength = 300): string {
  const cut = text.length > maxLength * 2 ? text.slice(0, maxLength * 2) : text
  const escaped = cut.replaceAll(UNSAFE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)
  return escaped.length > maxLength || cut !== text ? `${escaped.slice(0, maxLength)}...` : escaped
}

/** True when `text` has nothing {@link printable} would escape. */
export function isPrintable(text: string): boolean {
  UNSAFE.lastIndex = 0
  return !UNSAFE.test(text)
}
