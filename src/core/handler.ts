import type {Readable} from 'node:stream'

import type {Message} from './protocol/message.js'
import type {PickleValue} from './protocol/values.js'
import type {Upload} from './store/store.js'

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
}

/** Data for a response's FILE_DATA that streams from somewhere, with its exact length known up front. */
export interface StreamedFileData {
  readonly length: number
  readonly stream: Readable
}

/** What a handler answers on success. Failures are thrown as IssError (see `errors`). */
export interface HandlerResponse {
  /** DETAILS: a message, a list of names, or null. */
  details?: string | string[] | null
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
}

/**
 * The contract of a server handler: one class per protocol COMMAND, built by the server's container.
 * Declare dependencies in a static `inject` list of Tokens; the constructor receives them in order.
 */
export interface CommandHandler {
  handle(request: HandlerRequest, context: HandlerContext): Promise<HandlerResponse>
}

/** A handler class as a plugin exports it (default export). */
export interface CommandHandlerClass {
  new (...dependencies: never[]): CommandHandler
  /** Tokens of the constructor's parameters, in order. Needed because esbuild/tsx emit no metadata. */
  readonly inject?: readonly symbol[]
}
