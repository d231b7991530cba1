import {isIssError} from '../../src/core/errors.js'

/** The catalogue code a promise rejects with, or null when it resolves; any other failure is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise
    return null
  } catch (error) {
    if (isIssError(error)) return error.code
    throw error
  }
}
