import type {CommandHandler, HandlerRequest, HandlerResponse} from '../core/handler.js'
import {errors} from '../core/errors.js'
import type {PickleValue} from '../core/protocol/values.js'
import type {ImageStore, ReadRange} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/**
 * GET: streams a stored image back; the name resolves case-insensitively and FILENAME is the stored name.
 * A VERSION request may ask for part of it with OFFSET (and LENGTH); the answer then echoes OFFSET, and
 * carries the whole image's SHA256 (before FILE_DATA, so the client verifies as it writes).
 */
export default class GetHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a GET needs a FILENAME')
    const name = request.imageName()
    const range = request.versioned ? rangeOf(request.message.extra) : undefined
    const opened = await this.store.openRead(name, range)
    const {image, stream} = opened
    const offset = opened.offset ?? 0
    const length = image.size - offset
    const extra: Record<string, PickleValue> = {}
    if (image.sha256 !== undefined) extra.SHA256 = image.sha256
    // Echoed only when the backend honoured it: a client that gets no OFFSET has the whole image.
    const honoured = range !== undefined && opened.offset !== undefined
    if (honoured) extra.OFFSET = BigInt(offset)
    const sent = honoured && range.length !== undefined ? Math.min(length, range.length) : length
    return {filename: image.name, details: null, fileData: {length: sent, stream}, extra}
  }
}

/** OFFSET and LENGTH of a VERSION request, or undefined when it sent neither. */
function rangeOf(extra: ReadonlyMap<string, PickleValue>): ReadRange | undefined {
  const offset = extra.get('OFFSET') ?? null
  const length = extra.get('LENGTH') ?? null
  if (offset === null && length === null) return undefined
  if (offset !== null && (typeof offset !== 'bigint' || offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)))
    throw errors.malformed('OFFSET must be an int >= 0 (bytes to skip) or None', {fatal: false})
  if (length !== null && (typeof length !== 'bigint' || length < 0n || length > BigInt(Number.MAX_SAFE_INTEGER)))
    throw errors.malformed('LENGTH must be an int >= 0 (bytes to send) or None', {fatal: false})
  return {offset: offset === null ? 0 : Number(offset), ...(length !== null && {length: Number(length)})}
}
