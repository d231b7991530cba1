import {printable} from './printable.js'

/**
 * The one catalogue of iss error codes. Every failure that reaches a peer or a user is an
 * {@link IssError} carrying one of these codes; the server turns it into exactly one ERROR
 * response (DETAILS = message, CODE = code) and the CLI into exactly one line.
 */
export const ErrorCode = {
  /** A file with the same identity key is already stored. */
  DUPLICATE: 'E_DUPLICATE',
  /** No stored file has this name. */
  NOT_FOUND: 'E_NOT_FOUND',
  /** A PUT carried no data. */
  EMPTY: 'E_EMPTY',
  /** The name breaks the name rules (path separators, control characters, reserved, too long...). */
  BAD_NAME: 'E_BAD_NAME',
  /** The extension is not .jpg, .jpeg or .png. */
  UNSUPPORTED_TYPE: 'E_UNSUPPORTED_TYPE',
  /** The bytes do not match the extension's image family (magic bytes). */
  CONTENT_MISMATCH: 'E_CONTENT_MISMATCH',
  /** A frame, a value or an image is over a configured limit. */
  TOO_LARGE: 'E_TOO_LARGE',
  /** Storing the image would leave less than the configured free space. */
  NO_SPACE: 'E_NO_SPACE',
  /** The bytes are not a well-formed message: bad frame, refused pickle, wrong types. */
  MALFORMED: 'E_MALFORMED',
  /** The server has no handler for this COMMAND. */
  UNKNOWN_COMMAND: 'E_UNKNOWN_COMMAND',
  /** A request's STATUS is not REQUEST. */
  BAD_STATUS: 'E_BAD_STATUS',
  /** Every connection slot is busy with a request in flight. */
  BUSY: 'E_BUSY',
  /** The store cannot be written (its filesystem turned read-only): nothing can be stored or deleted. */
  READ_ONLY: 'E_READ_ONLY',
  /** A request or a peer was too slow (idle or below the minimum rate). */
  TIMEOUT: 'E_TIMEOUT',
  /** The server is shutting down and takes no new requests. */
  SHUTTING_DOWN: 'E_SHUTTING_DOWN',
  /** No token, or one that is unknown, expired or revoked, where the request needs one. */
  UNAUTHORIZED: 'E_UNAUTHORIZED',
  /** A valid token whose scope is too low for the command. */
  FORBIDDEN: 'E_FORBIDDEN',
  /** A clear-text request reached a port that speaks the protocol inside TLS. */
  TLS_REQUIRED: 'E_TLS_REQUIRED',
  /** Anything else: a bug or an I/O failure on the server. */
  INTERNAL: 'E_INTERNAL',
  /** The SHA-256 a PUT carried differs from the digest of the bytes that arrived: nothing was stored. */
  DIGEST_MISMATCH: 'E_DIGEST_MISMATCH',
} as const

/** One code of the catalogue (`E_DUPLICATE`, ...), as sent in an ERROR answer's CODE. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/** One line per code: what it means, used by docs/protocol.md and its documentation test. */
export const ERROR_CODE_SUMMARY: Readonly<Record<ErrorCodeValue, string>> = {
  E_DUPLICATE: 'an image with the same name (compared case-insensitively) is already stored',
  E_NOT_FOUND: 'no stored image has that name',
  E_EMPTY: 'the request carried no image data',
  E_BAD_NAME: 'the name is not a single safe file name',
  E_UNSUPPORTED_TYPE: 'the extension is not .jpg, .jpeg or .png',
  E_CONTENT_MISMATCH: "the data is not an image of the extension's type",
  E_TOO_LARGE: 'a frame, a value or the image is over a limit',
  E_NO_SPACE: 'the server would run out of disk space',
  E_MALFORMED: 'the bytes are not a valid message',
  E_UNKNOWN_COMMAND: 'the server has no handler for that command',
  E_BAD_STATUS: 'a request must have STATUS REQUEST',
  E_BUSY: 'the server has no free connection slot',
  E_READ_ONLY: 'the store is read-only: nothing can be stored or deleted',
  E_TIMEOUT: 'the peer was idle or too slow',
  E_SHUTTING_DOWN: 'the server is stopping',
  E_UNAUTHORIZED:
    'the request needs a valid token (none was sent before FILE_DATA, or it is unknown, expired or revoked)',
  E_FORBIDDEN: "the token's scope is too low for the command",
  E_TLS_REQUIRED: 'the port speaks TLS and the request came in clear text',
  E_INTERNAL: 'an unexpected server-side failure',
  E_DIGEST_MISMATCH: "the image's SHA-256 differs from the SHA256 the client sent: nothing was stored",
}

/**
 * The codes whose ERROR can end a connection: the server closes after answering a fatal one (its
 * byte stream is out of step, or it gives the slot up), and a client that reads one of them in CODE
 * (or an ERROR that echoes no COMMAND: the frame was not read as a request) opens a new connection
 * for its next request. One notion for both ends: a fatal IssError always carries one of these.
 */
export const CLOSING_CODES: ReadonlySet<string> = new Set<ErrorCodeValue>([
  ErrorCode.BUSY,
  ErrorCode.MALFORMED,
  ErrorCode.SHUTTING_DOWN,
  ErrorCode.TIMEOUT,
  ErrorCode.TOO_LARGE,
])

/** Codes that close the connection every time, whatever the instance says. */
const ALWAYS_CLOSING: ReadonlySet<string> = new Set<ErrorCodeValue>([
  ErrorCode.BUSY,
  ErrorCode.SHUTTING_DOWN,
  ErrorCode.TIMEOUT,
])

/** The client's reading of an ERROR answer: true when the server is closing the connection after it. */
export function answerClosesConnection(answer: {
  readonly CODE: string | null
  readonly COMMAND: string | null
}): boolean {
  return answer.COMMAND === null || CLOSING_CODES.has(answer.CODE ?? '')
}

/** Options of an {@link IssError}: whether the connection must close after it, extra response keys, a cause. */
export interface IssErrorOptions {
  /**
   * After answering, the connection cannot continue (the byte stream is out of step). Honoured
   * only for the closing codes (E_BUSY, E_MALFORMED, E_SHUTTING_DOWN, E_TIMEOUT, E_TOO_LARGE); E_BUSY, E_SHUTTING_DOWN and E_TIMEOUT are always fatal.
   */
  fatal?: boolean
  /** Extra response keys for VERSION requests, e.g. COMMANDS with E_UNKNOWN_COMMAND. */
  extra?: Record<string, unknown>
  cause?: unknown
}

/**
 * A failure with a code from the catalogue and a message a person can act on.
 * Recognise it across package boundaries with {@link isIssError}, never instanceof.
 */
export class IssError extends Error {
  readonly code: ErrorCodeValue
  readonly fatal: boolean
  readonly extra: Record<string, unknown>

  constructor(code: ErrorCodeValue, message: string, options: IssErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'IssError'
    this.code = code
    // Only a closing code may close: the client judges by the code, so the two ends never disagree.
    this.fatal = (options.fatal ?? ALWAYS_CLOSING.has(code)) && CLOSING_CODES.has(code)
    this.extra = options.extra ?? {}
  }
}

/** True for any error carrying a catalogue code, whichever copy of this module made it. */
export function isIssError(error: unknown): error is IssError {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as {code?: unknown}).code
  return typeof code === 'string' && Object.hasOwn(ERROR_CODE_SUMMARY, code)
}

/** Constructors for the common cases so that the wording of each message lives in one place. */
export const errors = {
  duplicate: (name: string) => new IssError(ErrorCode.DUPLICATE, `File '${name}' already exists on server`),
  notFound: (name: string) => new IssError(ErrorCode.NOT_FOUND, `File '${name}' does not exist on server`),
  empty: (name: string) => new IssError(ErrorCode.EMPTY, `File '${name}' is empty`),
  badName: (name: string, why: string) => new IssError(ErrorCode.BAD_NAME, `Invalid file name '${name}': ${why}`),
  unsupportedType: (name: string) =>
    new IssError(ErrorCode.UNSUPPORTED_TYPE, `File '${name}' is not a .jpg, .jpeg or .png image`),
  contentMismatch: (name: string, family: string) =>
    new IssError(ErrorCode.CONTENT_MISMATCH, `File '${name}' does not contain ${family} data`),
  tooLarge: (what: string, size: number | bigint, limit: number, options?: IssErrorOptions) =>
    new IssError(ErrorCode.TOO_LARGE, `${what} is ${size} bytes, over the limit of ${limit} bytes`, options),
  noSpace: (needed: number, minFree: number) =>
    new IssError(
      ErrorCode.NO_SPACE,
      `Not enough disk space on server: storing ${needed} bytes would leave less than ${minFree} bytes free`,
    ),
  malformed: (why: string, options: IssErrorOptions = {fatal: true}) =>
    new IssError(ErrorCode.MALFORMED, `Malformed message: ${why}`, options),
  unknownCommand: (command: string, served: readonly string[]) =>
    new IssError(ErrorCode.UNKNOWN_COMMAND, `Unknown command '${command}'; this server serves ${served.join(', ')}`, {
      extra: {COMMANDS: [...served]},
    }),
  badStatus: (status: unknown) =>
    new IssError(ErrorCode.BAD_STATUS, `A request must have STATUS 'REQUEST', not ${JSON.stringify(status)}`),
  busy: () => new IssError(ErrorCode.BUSY, 'Server busy: every connection is in use; try again shortly', {fatal: true}),
  readOnly: (options?: IssErrorOptions) =>
    new IssError(
      ErrorCode.READ_ONLY,
      'Store is read-only on server: images can be read but not stored or deleted until its disk is writable again',
      options,
    ),
  digestMismatch: (name: string, sent: string, actual: string) =>
    new IssError(
      ErrorCode.DIGEST_MISMATCH,
      `File '${name}' arrived damaged: its SHA-256 is ${actual}, not ${sent} as sent; nothing was stored`,
    ),
  /** `why` says what was missing or wrong, without telling whether a token name or id exists. */
  unauthorized: (why: string) => new IssError(ErrorCode.UNAUTHORIZED, `Unauthorized: ${why}`),
  forbidden: (token: string, held: string, command: string, needed: string) =>
    new IssError(
      ErrorCode.FORBIDDEN,
      `Forbidden: token '${token}' has scope ${held}, and ${command} needs ${needed}; ` +
        `ask the server's admin for a token with scope ${needed}`,
    ),
  tlsRequired: () =>
    new IssError(
      ErrorCode.TLS_REQUIRED,
      'This port speaks the iss image protocol inside TLS: connect with TLS (iss --tls; in Python, wrap the socket with an ssl context)',
    ),
  internal: (cause?: unknown) =>
    new IssError(ErrorCode.INTERNAL, 'Internal server error; the request was not completed', {cause}),
}

// ---- The CLI's own errors: local refusals that never cross the wire, beside the wire codes.

/** Exit codes of every client command (DESIGN.md, "CLI"). */
export const ExitCode = {
  OK: 0,
  /** The server answered ERROR for at least one item. */
  SERVER_ERROR: 1,
  /** Usage or local validation error, including a limit of this client (--max-size). */
  LOCAL_ERROR: 2,
  /** Connection or protocol failure. */
  CONNECTION: 3,
} as const

/** A usage or local validation failure: one line, exit 2. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.LOCAL_ERROR
  constructor(
    message: string,
    readonly code = 'E_USAGE',
  ) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The server has no handler for a command (E_UNKNOWN_COMMAND): nothing the client can retry. Exit 1. */
export class UnsupportedCommandError extends Error {
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style -- an own property, like UsageError's code, so it shows in JSON and spreads
  readonly code = 'E_UNKNOWN_COMMAND'
  readonly exitCode = ExitCode.SERVER_ERROR
  constructor(
    readonly command: string,
    readonly served: readonly string[],
    readonly address: string,
  ) {
    const list =
      served.length > 0
        ? `; it serves ${[...served]
            .sort()
            .map((name) => printable(name, 40))
            .join(', ')}`
        : ''
    super(
      `the server at ${address} does not support ${printable(command, 40)}${list}. ` +
        `Install the plugin that provides ${command} where the server runs.`,
    )
    this.name = 'UnsupportedCommandError'
  }
}

/** The target exists and --force was not given (or it appeared while downloading). */
export class TargetExistsError extends Error {
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style -- an own enumerable field, so it shows in JSON and spreads of the error
  readonly code = 'E_TARGET_EXISTS'
  constructor(readonly target: string) {
    super(`${target} already exists; use --force to replace it`)
    this.name = 'TargetExistsError'
  }
}

/** The file changed between the check and the end of sending it; thrown before its last byte goes out. */
export class FileChangedError extends Error {
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style -- an own enumerable field, for --json
  readonly code = 'E_LOCAL_CHANGED'
  constructor(why: string) {
    super(`${why} while it was being sent; nothing was stored. Send it again once it is complete`)
    this.name = 'FileChangedError'
  }
}

/** Why a TLS connection was refused before any byte of a request left (client side; never on the wire). */
export type TlsRefusal =
  /** The certificate is not trusted (by the system, by --ca) and not remembered: nothing to go on. */
  | 'E_TLS_UNTRUSTED'
  /** The certificate differs from the one remembered in known_servers for this host:port: possible interception. */
  | 'E_TLS_CHANGED'
  /** The certificate's fingerprint is not the one given with --fingerprint. */
  | 'E_TLS_FINGERPRINT'
  /** No TLS session could be set up (a server without TLS, a TLS version or cipher mismatch). */
  | 'E_TLS_HANDSHAKE'

/**
 * A client refused to talk to a server over TLS: one line for the user (exit 3, a connection failure),
 * with the certificate's SHA-256 fingerprint when there was one.
 */
export class TlsTrustError extends Error {
  readonly exitCode = ExitCode.CONNECTION
  constructor(
    readonly code: TlsRefusal,
    message: string,
    /** The server certificate's SHA-256 fingerprint (colon-separated hex), when the handshake got that far. */
    readonly fingerprint: string | null = null,
    options: {cause?: unknown} = {},
  ) {
    super(message, options)
    this.name = 'TlsTrustError'
  }
}

/** True for a TlsTrustError from any copy of this module. */
export function isTlsTrustError(error: unknown): error is TlsTrustError {
  const code = (error as {code?: unknown} | null)?.code
  return (
    error instanceof Error &&
    typeof code === 'string' &&
    /^E_TLS_(?:UNTRUSTED|CHANGED|FINGERPRINT|HANDSHAKE)$/u.test(code)
  )
}
