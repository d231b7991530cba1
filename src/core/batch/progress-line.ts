/**
 * The one progress line a batch draws on stderr (a terminal only), redrawn in place. Any other line printed
 * while it is shown (a file's result, a warning) first clears it through {@link clearProgressLine}; the next
 * update draws it again below.
 */
let shown: NodeJS.WriteStream | undefined

/** Draws `text` as the progress line on `stream`, replacing the one shown. */
export function drawProgressLine(stream: NodeJS.WriteStream, text: string): void {
  const width = Math.max(20, (stream.columns ?? 80) - 1)
  // Cut to the terminal's width: a wrapped line could not be redrawn in place.
  stream.write(`\r\u001B[K${[...text].slice(0, width).join('')}`)
  shown = stream
}

/** Clears the progress line, if one is shown, so that the next output starts on a clean line. */
export function clearProgressLine(): void {
  if (shown === undefined) return
  shown.write('\r\u001B[K')
  shown = undefined
}
