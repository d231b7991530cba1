import type {Logger} from 'pino'

import {ErrorCode, IssError, errors, isIssError} from './errors.js'
import type {StreamedFileData} from './handler.js'
import type {OutgoingMessage} from './protocol/message-writer.js'
import type {PickleValue} from './protocol/values.js'

/** The answer to one request, ready for a front door (the TCP connection) to encode and send. */
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

/** Node's code for a full disk, which a store may let through unwrapped: the one place it becomes E_NO_SPACE. */
export function isDiskFull(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as {code?: unknown}).code === 'ENOSPC'
}

/** Any error as the IssError it is answered with: its own, E_NO_SPACE for a full disk, else E_INTERNAL. */
export function asIssError(error: unknown): IssError {
  if (isIssError(error)) return error
  if (isDiskFull(error)) return new IssError(ErrorCode.NO_SPACE, 'Not enough disk space on server', {cause: error})
  return errors.internal(error)
}

/**
 * Maps any error to the one ERROR reply it gets: an IssError by its code (whichever copy of the
 * SDK made it), a full disk as E_NO_SPACE, anything else as E_INTERNAL (and logged, since it is a bug
 * or an I/O failure the peer cannot act on). COMMAND and FILENAME are echoed when they were decoded.
 */
export function errorReply(error: unknown, request: FailedRequest, logger?: Logger): Reply {
  const issError = asIssError(error)
  if (issError.code === ErrorCode.INTERNAL && !isIssError(error))
    logger?.error({err: error, command: request.command, filename: request.filename}, 'internal error')

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
