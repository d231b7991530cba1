import type {Readable} from 'node:stream'

import type {AccessGrant} from './access/policy.js'
import type {Message} from './protocol/message.js'
import type {StringList} from './protocol/pickle-encoder.js'
import type {PickleValue} from './protocol/values.js'
import type {Upload} from './store/store.js'

/**
 * A request as its handler first sees it when FILE_DATA follows: every key decoded before FILE_DATA
 * (iss clients and the seed write FILE_DATA last, so that is all of them but FILE_DATA), validated,
 * before a single byte of the data is stored.
 */
export interface RequestHead {
  /** The COMMAND, as sent. */
  readonly command: string
  readonly filename: string | null
  readonly details: string | string[] | null
  /** True when the client sent VERSION (an iss client): the response may carry extension keys. */
  readonly versioned: boolean
  /** The head as a validated message (its FILE_DATA is null), for keys beyond the seed's. */
  readonly message: Message
  /**
   * The announced upper bound of FILE_DATA's decoded size in bytes (exact at pickle protocols 3 to
   * 5; at 0 to 2 the data travels as a latin-1 str, so only a bound is known).
   */
  readonly sizeHint: number
  /**
   * FILENAME checked by the image name rules, once per request however often it is asked for;
   * throws E_BAD_NAME or E_UNSUPPORTED_TYPE (a request without FILENAME is E_BAD_NAME).
   */
  imageName(): string
}

/** A request as a handler sees it: validated, with any FILE_DATA already received into an upload. */
export interface HandlerRequest {
  /** The COMMAND, as sent. */
  readonly command: string
  readonly filename: string | null
  readonly details: string | string[] | null
  /**
   * The request's FILE_DATA, fully received but not yet published. A handler that wants it calls
   * `upload.commit(name)`; the server aborts it after the handler returns if it was not committed.
   */
  readonly upload: Upload | null
  /** True when the client sent VERSION (an iss client): the response may carry extension keys. */
  readonly versioned: boolean
  /** The whole validated message, for keys beyond the seed's. */
  readonly message: Message
  /** FILENAME checked by the image name rules, once per request (see {@link RequestHead.imageName}). */
  imageName(): string
}

/** Data for a response's FILE_DATA that streams from somewhere, with its exact length known up front. */
export interface StreamedFileData {
  readonly length: number
  readonly stream: Readable
}

/** What a handler answers on success. Failures are thrown as IssError (see `errors`). */
export interface HandlerResponse {
  /** DETAILS: a message, a list of names (an array, or a lazy `StringList` encoded as it is sent), or null. */
  details?: string | StringList | null
  /** FILENAME: the stored name when the request resolved to a stored file; defaults to the request's. */
  filename?: string | null
  /** FILE_DATA: bytes held, or a stream of known length. */
  fileData?: Buffer | StreamedFileData | null
  /** Extension keys, sent only to iss (VERSION) clients. */
  extra?: Record<string, PickleValue>
}

/** Per-request facts a handler may use. Handlers know nothing of sockets. */
export interface HandlerContext {
  /** host:port of the peer, for logs. */
  readonly peer: string
  /** Aborted when the peer goes away or the server stops waiting. */
  readonly signal: AbortSignal
  /**
   * Who sent the request, as the access check judged it: the token's name (null: no token) and the
   * scope it holds. Absent where no access check ran (a handler called directly).
   */
  readonly requester?: AccessGrant
}

/**
 * The contract of a server handler: one class per protocol COMMAND, built by the server's container.
 * Declare dependencies in a static `inject` list of Tokens; the constructor receives them in order.
 */
export interface CommandHandler {
  /**
   * Decides on a request whose FILE_DATA is about to arrive, before any byte of it is stored:
   * throw an IssError to refuse (the ERROR goes out at once and the rest of the frame is
   * discarded), or accept by returning the upload the bytes go to, normally
   * `store.beginUpload(head.imageName(), head.sizeHint)`, which `handle` then commits. A handler
   * without `accept` never receives FILE_DATA: its bytes are discarded unstored and
   * `request.upload` is null. (Exception: a hand-made pickle that puts FILE_DATA before COMMAND or
   * FILENAME cannot be decided on early; its bytes are spooled with `store.spool()` and `handle`
   * gets that upload, so `handle` must check everything `accept` checks.)
   */
  accept?(head: RequestHead, context: HandlerContext): Promise<Upload>
  /**
   * Answers a validated request (with its FILE_DATA received into the upload `accept` returned, if
   * any). Resolves to the OK answer; throws an IssError (from `errors`) for an ERROR answer whose
   * DETAILS is its message and CODE its code; any other throw becomes E_INTERNAL and is logged.
   */
  handle(request: HandlerRequest, context: HandlerContext): Promise<HandlerResponse>
}

/** A handler class as a plugin exports it (default export). */
export interface CommandHandlerClass {
  new (...dependencies: never[]): CommandHandler
  /** Tokens of the constructor's parameters, in order. Needed because esbuild/tsx emit no metadata. */
  readonly inject?: readonly symbol[]
}
