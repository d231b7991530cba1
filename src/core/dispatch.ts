import type {Logger} from 'pino'

import type {AccessGrant} from './access/policy.js'
import {type Scope, UNDECLARED_SCOPE} from './access/scope.js'
import {errors} from './errors.js'
import type {CommandHandler, HandlerContext, RequestHead} from './handler.js'
import {validateImageName} from './images/names.js'
import type {Message} from './protocol/message.js'
import type {OutgoingMessage} from './protocol/message-writer.js'
import type {HandlerRegistry} from './registry.js'
import {errorReply, type FailedRequest, type Reply} from './reply.js'
import type {Upload} from './store/store.js'

export {errorReply, type FailedRequest, type Reply} from './reply.js'

/** One validated request on its way to a handler. */
export interface DispatchInput {
  readonly message: Message
  /** The received FILE_DATA, not yet published; null when the request had none. */
  readonly upload: Upload | null
  readonly peer: string
  readonly signal: AbortSignal
  /** The handler already built for this request (by {@link Dispatcher.accept}); a fresh one otherwise. */
  readonly handler?: CommandHandler
  /** The request's name check, shared with the head so that it runs once. */
  readonly imageName?: () => string
  /** Who sent it, as the access check judged it. */
  readonly requester?: AccessGrant
}

/** A request head on its way to a handler's `accept`. */
export interface AcceptInput {
  readonly message: Message
  readonly sizeHint: number
  readonly peer: string
  readonly signal: AbortSignal
  readonly handler: CommandHandler
  readonly imageName: () => string
  readonly requester?: AccessGrant
}

/** FILENAME checked once, however often a handler asks; the result (or the refusal) is kept. */
export function nameCheck(filename: string | null): () => string {
  let outcome: {name: string} | {error: unknown} | null = null
  return () => {
    if (outcome === null) {
      try {
        if (filename === null) throw errors.badName('None', 'the request has no FILENAME')
        outcome = {name: validateImageName(filename)}
      } catch (error) {
        outcome = {error}
      }
    }

    if ('error' in outcome) throw outcome.error
    return outcome.name
  }
}

function failedRequest(message: Message): FailedRequest {
  return {command: message.COMMAND, filename: message.FILENAME, versioned: message.VERSION !== null}
}

/**
 * Message -> handler -> reply. The checks every command shares (STATUS, a served COMMAND) live
 * here so that no handler repeats them.
 */
export class Dispatcher {
  constructor(
    private readonly registry: HandlerRegistry,
    private readonly resolve: (command: string) => CommandHandler | undefined,
    private readonly logger?: Logger,
  ) {}

  /** The handler for a request, after the shared checks; throws E_BAD_STATUS or E_UNKNOWN_COMMAND. */
  handlerFor(message: Message): CommandHandler {
    if (message.STATUS !== 'REQUEST') throw errors.badStatus(message.STATUS ?? null)
    const handler = message.COMMAND === null ? undefined : this.resolve(message.COMMAND)
    if (!handler) throw errors.unknownCommand(message.COMMAND ?? 'None', this.registry.commands())
    return handler
  }

  /** The scope a COMMAND needs, as its handler declaration names it (admin when unknown). */
  scopeOf(command: string): Scope {
    return this.registry.get(command)?.scope ?? UNDECLARED_SCOPE
  }

  /** Hands a request head to its handler's `accept`; null when the handler takes no FILE_DATA. Throws a refusal. */
  async accept(input: AcceptInput): Promise<Upload | null> {
    const {handler, message} = input
    if (handler.accept === undefined) return null
    const head: RequestHead = {
      command: message.COMMAND!,
      filename: message.FILENAME,
      details: message.DETAILS,
      versioned: message.VERSION !== null,
      message,
      sizeHint: input.sizeHint,
      imageName: input.imageName,
    }
    return handler.accept(head, {peer: input.peer, signal: input.signal, requester: input.requester})
  }

  async dispatch(input: DispatchInput): Promise<Reply> {
    const {message} = input
    const request = failedRequest(message)
    try {
      const handler = input.handler ?? this.handlerFor(message)
      const context: HandlerContext = {peer: input.peer, signal: input.signal, requester: input.requester}
      const response = await handler.handle(
        {
          command: message.COMMAND!,
          filename: message.FILENAME,
          details: message.DETAILS,
          upload: input.upload,
          versioned: request.versioned,
          message,
          imageName: input.imageName ?? nameCheck(message.FILENAME),
        },
        context,
      )
      const reply: Omit<OutgoingMessage, 'FILE_DATA'> = {
        COMMAND: message.COMMAND,
        STATUS: 'OK',
        DETAILS: response.details ?? null,
        FILENAME: response.filename === undefined ? message.FILENAME : response.filename,
      }
      if (request.versioned && response.extra && Object.keys(response.extra).length > 0)
        reply.extra = {...response.extra}
      return {message: reply, fileData: response.fileData ?? null, status: 'OK', code: null, fatal: false}
    } catch (error) {
      return errorReply(error, request, this.logger)
    }
  }
}
