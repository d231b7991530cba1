import type {Logger} from 'pino'

import type {CommandHandler, HandlerContext, StreamedFileData} from './handler.js'
import {ErrorCode, IssError, errors, isIssError} from './errors.js'
import type {Message} from './protocol/message.js'
import type {OutgoingMessage} from './protocol/message-writer.js'
import type {PickleValue} from './protocol/values.js'
import type {HandlerRegistry} from './registry.js'
import type {Upload} from './store/store.js'

/** One validated request on its way to a handler. */
export interface DispatchInput {
  readonly message: Message
  /** The received FILE_DATA, not yet published; null when the request had none. */
  readonly upload: Upload | null
  readonly peer: string
  readonly signal: AbortSignal
}

/** The answer to one request, ready for the connection to encode. */
export interface Reply {
  /** Every key but FILE_DATA, already trimmed to the five seed keys for seed requests. */
  readonly message: Omit<OutgoingMessage, 'FILE_DATA'>
  readonly fileData: Buffer | StreamedFileData | null
  readonly status: 'OK' | 'ERROR'
  readonly code: string | null
  /** The connection must close after sending this (the byte stream is out of step). */
  readonly fatal: boolean
}

/** What is known of a request when it fails: possibly only part of it. */
export interface FailedRequest {
  readonly command: string | null
  readonly filename: string | null
  /** True only when the request is known to carry VERSION; unparsed requests get the seed keys only. */
  readonly versioned: boolean
}

/** Node's code for a full disk, which a store may let through unwrapped. */
function isDiskFull(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as {code?: unknown}).code === 'ENOSPC'
}

/**
 * Maps any error to the one ERROR reply it gets: an IssError by its code (whichever copy of the
 * SDK made it), a full disk as E_NO_SPACE, anything else as E_INTERNAL (and logged, since it is a bug
 * or an I/O failure the peer cannot act on).
 */
export function errorReply(error: unknown, request: FailedRequest, logger?: Logger): Reply {
  let issError: IssError
  if (isIssError(error)) issError = error
  else if (isDiskFull(error))
    issError = new IssError(ErrorCode.NO_SPACE, 'Not enough disk space on server', {cause: error})
  else {
    logger?.error({err: error, command: request.command, filename: request.filename}, 'internal error')
    issError = errors.internal(error)
  }

  const message: Omit<OutgoingMessage, 'FILE_DATA'> = {
    COMMAND: request.command,
    STATUS: 'ERROR',
    DETAILS: issError.message,
    FILENAME: request.filename,
  }
  if (request.versioned) {
    message.extra = {CODE: issError.code, ...(issError.extra as Record<string, PickleValue>)}
  }

  return {message, fileData: null, status: 'ERROR', code: issError.code, fatal: issError.fatal}
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

  async dispatch(input: DispatchInput): Promise<Reply> {
    const {message} = input
    const request: FailedRequest = {
      command: message.COMMAND,
      filename: message.FILENAME,
      versioned: message.VERSION !== null,
    }
    try {
      if (message.STATUS !== 'REQUEST') throw errors.badStatus(message.STATUS ?? null)
      const handler = message.COMMAND === null ? undefined : this.resolve(message.COMMAND)
      if (!handler) throw errors.unknownCommand(message.COMMAND ?? 'None', this.registry.commands())
      const context: HandlerContext = {peer: input.peer, signal: input.signal}
      const response = await handler.handle(
        {
          command: message.COMMAND!,
          filename: message.FILENAME,
          details: message.DETAILS,
          upload: input.upload,
          versioned: request.versioned,
          message,
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
