import type {PickleLimits} from '../protocol/pickle-decoder.js'

/**
 * Decoder limits for a server's answers, smaller than a server's: an answer holds a few short strings
 * (a name, a message, a LIST page of at most 10,000 names; a seed server sends its whole listing) and
 * FILE_DATA, which streams to the sink and is bounded by maxSize instead. So a hostile server's dict
 * bomb or deep nesting is refused early: a dict bomb held open by a trickle peaks the client at about
 * 100 MB of RSS (test/integration/client-hostile-limits.test.ts).
 */
export const CLIENT_PICKLE_LIMITS: Readonly<Partial<PickleLimits>> = Object.freeze({
  maxDepth: 16,
  maxItems: 100_000,
  maxStringBytes: 1024 * 1024,
  maxTotalBytes: 16 * 1024 * 1024,
})

/**
 * The slowest a request may move its FILE_DATA, in bytes per second: each request must end within
 * --timeout plus one second per CLIENT_MIN_RATE bytes of FILE_DATA (sent, and announced by the answer).
 * --timeout alone bounds only the gap between bytes, and a server sending a byte every few seconds
 * would hold a request forever. 64 KiB/s: a 256 MiB image may take 68 minutes.
 */
export const CLIENT_MIN_RATE = 64 * 1024

/** The longest a request may take: `timeoutMs`, plus one second per CLIENT_MIN_RATE bytes of FILE_DATA. */
export function requestDeadlineMs(timeoutMs: number, fileDataBytes: number): number {
  return timeoutMs + Math.ceil((fileDataBytes * 1000) / CLIENT_MIN_RATE)
}
