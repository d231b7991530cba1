import type {Message} from '../protocol/message.js'
import type {PickleValue} from '../protocol/values.js'
import {ConnectionError} from '../transport/client-connection.js'

/** Names asked for per LIST page, as `iss list` asks. */
const PAGE_SIZE = 2000
/** An identity key is at most 255 bytes of name; a longer NEXT is not one. */
const MAX_NEXT_LENGTH = 1024
/**
 * Most names a batch takes from one listing (about 500 MB of memory at the longest names): a hostile server
 * paging forever cannot make the client grow without bound.
 */
export const MAX_LISTED_NAMES = 2_000_000

/** The server answered LIST with ERROR. */
export class ListRefusedError extends Error {
  constructor(
    readonly code: string | null,
    message: string,
  ) {
    super(message)
    this.name = 'ListRefusedError'
  }
}

/**
 * Every stored name, in the server's order, by LIST pages (AFTER / LIMIT, following NEXT) as `iss list` does; a
 * seed server answers with the whole list at once, and an empty store with a message (no names). Throws
 * ListRefusedError for an ERROR answer and ConnectionError for a NEXT that does not move forward (a hostile
 * server could otherwise make the client ask forever).
 */
export async function listAllNames(
  list: (extra: Record<string, PickleValue>) => Promise<Message>,
  address: string,
): Promise<string[]> {
  const names: string[] = []
  let after: string | undefined
  for (;;) {
    const extra: Record<string, PickleValue> = {LIMIT: BigInt(PAGE_SIZE)}
    if (after !== undefined) extra.AFTER = after

    const response = await list(extra)
    if (response.STATUS === 'ERROR') {
      const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to list'
      throw new ListRefusedError(response.CODE, message)
    }
    if (!Array.isArray(response.DETAILS)) return names // an empty store's message
    names.push(...response.DETAILS)
    if (names.length > MAX_LISTED_NAMES) {
      throw new ConnectionError('protocol', address, `${address} listed more than ${MAX_LISTED_NAMES} names`)
    }
    const next = response.extra.get('NEXT') ?? null
    if (next === null) return names
    if (
      typeof next !== 'string' ||
      next.length > MAX_NEXT_LENGTH ||
      (after !== undefined && Buffer.compare(Buffer.from(next), Buffer.from(after)) <= 0)
    ) {
      throw new ConnectionError(
        'protocol',
        address,
        `${address} sent a LIST page whose NEXT does not move past the previous page`,
      )
    }
    after = next
  }
}
