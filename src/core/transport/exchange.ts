import type {Writable} from 'node:stream'

import type {DecodeBudget} from '../protocol/decode-budget.js'
import type {Message} from '../protocol/message.js'
import type {PickleLimits} from '../protocol/pickle-decoder.js'
import type {PickleDict} from '../protocol/values.js'
import type {FailedRequest, Reply} from '../reply.js'
import type {ClockLimits} from './connection-clock.js'

/** A handler's decision on a request head: where FILE_DATA goes (null: discard it unstored), or why it is refused. */
export type HeadDecision = {readonly sink: Writable | null} | {readonly refusal: unknown}

/**
 * One request on its way through the server, as the transport drives it: the head first (when
 * FILE_DATA streams), then the whole message. The transport knows nothing of images or stores.
 */
export interface RequestExchange {
  /** FILE_DATA is about to stream; `head` holds every key decoded before it, `sizeHint` bounds its size in bytes. */
  head(head: PickleDict, sizeHint: number): Promise<HeadDecision>
  /** The message is complete, and every FILE_DATA byte has reached the sink `head` named. */
  complete(message: Message): Promise<Reply>
  /** The request is over (answered, refused or cut off): release whatever it holds. Safe to call twice. */
  dispose(): Promise<void>
  /** Extra fields for the request's log line (who sent it); the transport copies them without reading them. */
  logFields?(): Readonly<Record<string, string | null>>
}

/** One answered request, for the log. */
export interface CompletedRequest {
  readonly peer: string
  readonly command: string | null
  readonly filename: string | null
  /** FILE_DATA bytes received (PUT) or sent (GET). */
  readonly bytes: number
  readonly durationMs: number
  readonly status: 'OK' | 'ERROR' | 'ABORTED'
  readonly code: string | null
  /** The exchange's {@link RequestExchange.logFields}, when it had any. */
  readonly fields?: Readonly<Record<string, string | null>>
}

/** What the server gives each connection. */
export interface ConnectionHooks {
  /** Starts one request's way through the server. */
  open(peer: string, signal: AbortSignal): RequestExchange
  errorReply(error: unknown, request: FailedRequest): Reply
  onRequestDone?(request: CompletedRequest): void
}

/** Limits of one connection. Sizes in bytes, times in ms. */
export interface ConnectionLimits extends ClockLimits {
  readonly maxFrameBytes: number
  /** Largest FILE_DATA. */
  readonly maxStreamBytes: number
  /** After a fatal answer, how long to keep discarding what the peer still sends before closing. */
  readonly lingerMs: number
  /** Decode memory shared by all connections (E_BUSY past it). */
  readonly decodeBudget?: DecodeBudget
  /** The decoder's limits for one request (REQUEST_PICKLE_LIMITS on a server). */
  readonly decodeLimits?: Partial<PickleLimits>
}
