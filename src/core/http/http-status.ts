import type {ErrorCodeValue} from '../errors.js'

/**
 * The HTTP status each catalogue code is answered with; the body keeps the protocol's DETAILS text
 * and CODE, so that an HTTP client reads the same words as a protocol client. Codes this table does
 * not know (a newer catalogue) are answered as 500 by {@link httpStatusOf}.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  E_DUPLICATE: 409,
  E_NOT_FOUND: 404,
  E_EMPTY: 400,
  E_BAD_NAME: 400,
  E_UNSUPPORTED_TYPE: 415,
  E_CONTENT_MISMATCH: 415,
  E_TOO_LARGE: 413,
  E_NO_SPACE: 507,
  E_MALFORMED: 400,
  E_UNKNOWN_COMMAND: 405,
  E_BAD_STATUS: 400,
  E_BUSY: 503,
  E_READ_ONLY: 503,
  E_TIMEOUT: 408,
  E_SHUTTING_DOWN: 503,
  E_INTERNAL: 500,
  E_UNAUTHORIZED: 401,
  E_FORBIDDEN: 403,
} satisfies Partial<Record<ErrorCodeValue | 'E_UNAUTHORIZED' | 'E_FORBIDDEN', number>>

/** The HTTP status for an error code from the catalogue (500 for one this table does not know). */
export function httpStatusOf(code: string | null): number {
  return (code !== null && STATUS_BY_CODE[code]) || 500
}

/** The JSON body of every HTTP error answer: the protocol's CODE and DETAILS, unchanged. */
export interface HttpErrorBody {
  readonly status: 'ERROR'
  readonly code: string
  readonly details: string
}
