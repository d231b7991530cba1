import {humanSize} from './byte-size.js'
import {ExitCode, isIssError, isTlsTrustError} from './errors.js'
import {printable} from './printable.js'
import {isConnectionError} from './transport/client-connection.js'

export {ExitCode} from './errors.js'

/** A whole-command failure as the user sees it: one line, a code for --json, an exit code. */
export interface Failure {
  code: string
  message: string
  exitCode: number
  /** Where it was found, for the per-item result of the item it interrupted. */
  source: 'local' | 'connection' | 'server'
}

/** What the command knew when the failure happened, for a hint that fits the evidence. */
export interface FailureContext {
  /** The --frame-endian in use. */
  byteOrder: 'auto' | 'big' | 'little'
  /** The response size limit in force, and whether the user can change it with --max-size. */
  maxSize: number
  hasMaxSizeFlag: boolean
  /** The whole request was sent and not one byte of an answer came back. */
  silentAfterRequest: boolean
}

/** The first two numbers of bytes a size refusal names ("X is N bytes, over the limit of M bytes"). */
function sizesIn(message: string): {size?: number; limit?: number} {
  const numbers = [...message.matchAll(/(\d+) bytes/gu)].map((match) => Number(match[1]))
  return numbers.length >= 2 ? {size: numbers[0], limit: numbers[1]} : {limit: numbers[0]}
}

function swap32(value: number): number {
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32BE(value)
  return buffer.readUInt32LE()
}

/**
 * The one line and exit code for a failure of ours; undefined for oclif's own (parse errors, exits).
 * Every text a server chose goes through printable().
 */
export function describeFailure(error: unknown, context: FailureContext): Failure | undefined {
  if (isConnectionError(error)) {
    const cause = error.cause as {code?: unknown; message?: unknown} | undefined
    const causeText = typeof cause?.message === 'string' ? cause.message : ''
    // An image over --max-size is this client's refusal; a frame length past any sane bound is garbage.
    if (cause?.code === 'E_TOO_LARGE' && !causeText.startsWith('Frame')) {
      return sizeRefusal(error.address, causeText, context)
    }
    const frame = cause?.code === 'E_TOO_LARGE' ? sizesIn(causeText) : {}
    const message =
      frame.size !== undefined && frame.limit !== undefined
        ? `${error.address} sent a frame of ${humanSize(frame.size)}, over the limit of ${humanSize(frame.limit)} this client accepts`
        : error.message
    return {
      code: error.code,
      exitCode: ExitCode.CONNECTION,
      message: printable(`${message} (${connectionHint(error.kind, error.hint, causeText, context)})`, 2000),
      source: 'connection',
    }
  }
  if (isTlsTrustError(error)) {
    return {
      code: error.code,
      exitCode: ExitCode.CONNECTION,
      message: printable(error.message, 2000),
      source: 'connection',
    }
  }
  // By code, not instanceof: a plugin may have been handed another copy of this module.
  const coded = error as {code?: unknown; exitCode?: unknown}
  if (error instanceof Error && (coded.code === 'E_USAGE' || coded.code === 'E_UNKNOWN_COMMAND')) {
    return {
      code: coded.code,
      exitCode: Number(coded.exitCode ?? ExitCode.LOCAL_ERROR),
      message: printable(error.message, 2000),
      source: coded.code === 'E_USAGE' ? 'local' : 'server',
    }
  }
  if (isIssError(error)) {
    return {code: error.code, exitCode: ExitCode.LOCAL_ERROR, message: printable(error.message, 2000), source: 'local'}
  }
  const system = error as NodeJS.ErrnoException
  if (error instanceof Error && typeof system.code === 'string' && typeof system.syscall === 'string') {
    return {code: system.code, exitCode: ExitCode.LOCAL_ERROR, message: printable(error.message, 2000), source: 'local'}
  }
  return undefined
}

/** A response over this client's limit: refused locally (exit 2), said in MiB, with the flag that changes it. */
function sizeRefusal(address: string, causeText: string, context: FailureContext): Failure {
  const {size} = sizesIn(causeText)
  const answer = size === undefined ? 'an answer' : `an answer of ${humanSize(size)}`
  const todo = context.hasMaxSizeFlag
    ? `if you trust the server, run again with --max-size ${Math.ceil((size ?? context.maxSize * 2) / 1024 ** 2)}MiB`
    : 'this command accepts no larger answer; the server is not an iss server or sent too much'
  return {
    code: 'E_TOO_LARGE',
    exitCode: ExitCode.LOCAL_ERROR,
    message: `${address} sent ${answer}, over the limit of ${humanSize(context.maxSize)} this client accepts (${todo})`,
    source: 'local',
  }
}

/**
 * The hint after a connection failure. The byte-order hint only where the evidence points to byte order: a
 * frame length that is absurd as read but sensible byte-swapped, or a server that took the whole request and
 * never answered (what a seed server does when it reads our length in the other order and waits for more).
 */
function connectionHint(kind: string, hint: string, causeText: string, context: FailureContext): string {
  // With auto, the first frame read the same in either order: byte order is never the explanation.
  const forced = context.byteOrder === 'auto' ? undefined : context.byteOrder
  const byteOrder = `try --frame-endian ${forced === 'big' ? 'little' : 'big'}`
  if (kind === 'protocol') {
    const frame = causeText.startsWith('Frame is') ? sizesIn(causeText) : {}
    if (
      forced !== undefined &&
      frame.size !== undefined &&
      frame.limit !== undefined &&
      swap32(frame.size) <= frame.limit
    ) {
      return `its frame length makes sense only in the other byte order: ${byteOrder}`
    }
    if (causeText.startsWith('Frame') && context.hasMaxSizeFlag) {
      return 'is it an iss or seed image server? If it is sending a larger image, raise --max-size'
    }
    return 'is it an iss or seed image server?'
  }
  if (kind === 'timeout' && context.silentAfterRequest && forced !== undefined) {
    return (
      'it took the whole request and answered nothing; a seed server that reads lengths in the other byte ' +
      `order waits like this: ${byteOrder}, or --frame-endian auto (or raise --timeout for a slow server)`
    )
  }
  return hint
}

/** The reason part of a local check's IssError, for a `NAME: reason` line (the name is already in front). */
export function localReason(error: {code: string; message: string}): string {
  if (error.code === 'E_BAD_NAME') return `invalid name: ${error.message.replace(/^Invalid file name '.*': /su, '')}`
  if (error.code === 'E_UNSUPPORTED_TYPE') return 'not a .jpg, .jpeg or .png name'
  return error.message
}

/**
 * A server's refusal as a person reads it: a size refusal ("Image is 314572808 bytes, over the limit of
 * 268435456 bytes", the wire's wording, kept for seed clients) in MiB with what to do; anything else as sent.
 */
export function serverRefusalText(details: string): string {
  const match = /^(\w[\w ]*?) is (\d+) bytes, over the limit of (\d+) bytes/u.exec(details)
  if (match === null) return details
  const [, what, size, limit] = match
  const subject = what === 'Frame' ? 'the request' : 'the image'
  return (
    `${subject} is ${humanSize(Number(size))}, over the limit of ${humanSize(Number(limit))} at the server ` +
    '(where the server runs, `iss serve --max-size` raises it)'
  )
}
