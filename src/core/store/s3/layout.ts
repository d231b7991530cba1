import {identityKey} from '../../images/names.js'

/**
 * Where an s3: store keeps things inside its bucket, under the URL's prefix:
 * - `blobs/<uuid>`: image bytes, written once, deleted only by the sweep;
 * - `names/<identity key>`: a name claim (small JSON, see {@link Claim}), created only by a
 *   conditional PutObject (If-None-Match: *), so one identity has at most one claim;
 * - `pins/<uuid>`: a blob being renamed (keeps the sweep off it while its claims move);
 * - `probe/<uuid>`: the start-up check of conditional writes.
 * The identity key is used as is: image names hold no '/' and no control character, and S3 lists
 * keys in UTF-8 byte order, which is the code point order the stores sort names by.
 */
export class KeyLayout {
  readonly names: string
  readonly blobs: string
  readonly pins: string
  readonly probes: string

  /** `prefix`: '' or a path inside the bucket, without leading or trailing '/'. */
  constructor(readonly prefix: string) {
    const root = prefix === '' ? '' : `${prefix}/`
    this.names = `${root}names/`
    this.blobs = `${root}blobs/`
    this.pins = `${root}pins/`
    this.probes = `${root}probe/`
  }

  /** The claim key of a name (any case or normalisation form of it). */
  nameKey(name: string): string {
    return this.names + identityKey(name)
  }

  /** The claim key of an identity key, as ListOptions.after gives it. */
  nameKeyOfIdentity(key: string): string {
    return this.names + key
  }

  pinKey(blobKey: string): string {
    return this.pins + blobKey.slice(this.blobs.length)
  }
}

/** What a name claim holds: the blob it points at and the image's facts. */
export interface Claim {
  readonly blob: string
  /** The stored name (NFC, case as uploaded). */
  readonly name: string
  readonly size: number
  readonly modifiedMs: number
  /** Lowercase hex SHA-256 of the blob's bytes. */
  readonly sha256: string
}

/** Claims are tiny; anything bigger is not one of ours. */
export const MAX_CLAIM_BYTES = 4096

export function encodeClaim(claim: Claim): string {
  return JSON.stringify({v: 1, ...claim})
}

/**
 * Parses a claim read from the bucket (another server, or a person, may have written it): returns
 * null for anything that is not a well-formed claim whose blob lives under `blobs`.
 */
export function decodeClaim(text: string, blobs: string): Claim | null {
  if (text.length > MAX_CLAIM_BYTES) return null
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }

  if (typeof value !== 'object' || value === null) return null
  const {v, blob, name, size, modifiedMs, sha256} = value as Record<string, unknown>
  if (v !== 1 || typeof blob !== 'string' || !blob.startsWith(blobs) || typeof name !== 'string') return null
  if (!Number.isSafeInteger(size) || (size as number) < 0) return null
  if (typeof modifiedMs !== 'number' || !Number.isFinite(modifiedMs)) return null
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/u.test(sha256)) return null
  return {blob, name, size: size as number, modifiedMs, sha256}
}
