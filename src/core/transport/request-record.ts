import type {CompletedRequest, RequestExchange} from './exchange.js'
import type {SinkFeeder} from './sink-feeder.js'

/** The request in progress: what is known of it, where its FILE_DATA goes, whether it has been answered. */
export interface Current {
  exchange: RequestExchange | null
  command: string | null
  filename: string | null
  versioned: boolean
  feeder: SinkFeeder | null
  /** Answered before its frame ended (refused on its head): the rest of the frame is discarded. */
  answered: boolean
  /** Its answer is being sent (whatever happens next is logged by the answer). */
  replying: boolean
  /** Refused on its head, to be answered when its short frame ends; the rest of the frame is discarded. */
  refusal: {readonly error: unknown} | null
  bytes: number
  start: number
}

/** A record for the next request. */
export function fresh(): Current {
  return {
    exchange: null,
    command: null,
    filename: null,
    versioned: false,
    feeder: null,
    answered: false,
    replying: false,
    refusal: null,
    bytes: 0,
    start: performance.now(),
  }
}

/** The log entry of a request: what was known of it, how it ended and how many FILE_DATA bytes moved. */
export function entryOf(
  peer: string,
  request: Current,
  outcome: {readonly status: CompletedRequest['status']; readonly code: string | null; readonly bytes?: number},
): CompletedRequest {
  return {
    peer,
    command: request.command,
    filename: request.filename,
    bytes: outcome.bytes ?? request.bytes,
    durationMs: performance.now() - request.start,
    status: outcome.status,
    code: outcome.code,
    fields: request.exchange?.logFields?.(),
  }
}
