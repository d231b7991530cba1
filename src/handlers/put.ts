import type {CommandHandler, HandlerRequest, HandlerResponse, RequestHead} from '../core/handler.js'
import {familyOf} from '../core/images/names.js'
import {matchesFamily} from '../core/images/sniff.js'
import {errors, ErrorCode, IssError, isIssError} from '../core/errors.js'
import type {PickleValue} from '../core/protocol/values.js'
import {SHA256_PATTERN} from '../core/store/digest-upload.js'
import type {ImageStore, Upload} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/**
 * PUT: stores the request's FILE_DATA under FILENAME, never replacing an image of the same identity.
 * A VERSION request may carry SHA256 (before or after FILE_DATA): a mismatch is refused before anything
 * is published. A VERSION answer carries the stored image's SHA256, on success and on E_DUPLICATE.
 */
export default class PutHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  /** Name, emptiness, duplicates, size and space are judged here, before a byte is stored. */
  async accept(head: RequestHead): Promise<Upload> {
    if (head.filename === null) throw errors.badName('None', 'a PUT needs a FILENAME')
    const name = head.imageName()
    if (head.versioned) sentDigest(head.message.extra)
    if (head.sizeHint === 0) throw errors.empty(name)
    try {
      return await this.store.beginUpload(name, head.sizeHint)
    } catch (error) {
      throw head.versioned ? await this.withStoredDigest(error, name) : error
    }
  }

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a PUT needs a FILENAME')
    const name = request.imageName()
    const sha256 = request.versioned ? sentDigest(request.message.extra) : undefined
    const {upload} = request
    if (!upload || upload.bytesWritten === 0) throw errors.empty(name)
    const family = familyOf(name)!
    if (!matchesFamily(upload.head(), family, upload.bytesWritten)) throw errors.contentMismatch(name, family)
    let stored
    try {
      stored = await upload.commit(name, sha256 === undefined ? undefined : {sha256})
    } catch (error) {
      throw request.versioned ? await this.withStoredDigest(error, name) : error
    }

    return {
      filename: stored.name,
      details: `File '${stored.name}' stored on server (${stored.size} bytes)`,
      ...(stored.sha256 !== undefined && {extra: {SHA256: stored.sha256}}),
    }
  }

  /** A duplicate's ERROR, with the stored image's SHA256 added (for VERSION requests). */
  private async withStoredDigest(error: unknown, name: string): Promise<unknown> {
    if (!isIssError(error) || error.code !== ErrorCode.DUPLICATE) return error
    const existing = await this.store.stat(name).catch(() => null)
    if (existing?.sha256 === undefined) return error
    return new IssError(error.code, error.message, {extra: {...error.extra, SHA256: existing.sha256}, cause: error})
  }
}

/** The request's SHA256 in lowercase, or undefined; anything but 64 hex digits is E_MALFORMED. */
function sentDigest(extra: ReadonlyMap<string, PickleValue>): string | undefined {
  const value = extra.get('SHA256') ?? null
  if (value === null) return undefined
  if (typeof value !== 'string' || !SHA256_PATTERN.test(value.toLowerCase()))
    throw errors.malformed('SHA256 must be a str of 64 hex digits (the SHA-256 of FILE_DATA) or None', {fatal: false})
  return value.toLowerCase()
}
