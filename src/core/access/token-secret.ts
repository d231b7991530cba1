import {createHash, randomBytes, timingSafeEqual} from 'node:crypto'

/** Random bytes in a token's secret part (256 bits: guessing is hopeless, so one fast hash suffices). */
export const SECRET_BYTES = 32
/** Random bytes in a token's id, the public part the server looks the token up by. */
export const ID_BYTES = 8

/** `iss_<id>_<secret>`: id as 16 lower-case hex digits, secret as 43 base64url characters. */
const TOKEN_PATTERN = /^iss_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/u

/** A token as it travels: the id to find its entry, the secret to prove it. */
export interface TokenParts {
  readonly id: string
  readonly secret: string
}

/** A new token: the text handed to its holder once, and what the tokens file keeps of it. */
export interface NewToken {
  /** `iss_<id>_<secret>`; shown once, never stored. */
  readonly text: string
  readonly id: string
  /** SHA-256 of the secret part, lower-case hex. */
  readonly hash: string
}

/** The SHA-256 of a secret, lower-case hex: what the tokens file holds instead of the secret. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Makes a token from the system's CSPRNG. */
export function newToken(): NewToken {
  const id = randomBytes(ID_BYTES).toString('hex')
  const secret = randomBytes(SECRET_BYTES).toString('base64url')
  return {text: `iss_${id}_${secret}`, id, hash: hashSecret(secret)}
}

/** The id and secret of a token's text; null when it is not shaped like one. */
export function parseToken(text: string): TokenParts | null {
  const match = TOKEN_PATTERN.exec(text)
  return match === null ? null : {id: match[1], secret: match[2]}
}

/**
 * True when `secret` hashes to `hash` (hex). Both digests are 32 bytes, so timingSafeEqual compares
 * them in constant time: how long the check takes says nothing about how close a guess was.
 */
export function secretMatches(secret: string, hash: string): boolean {
  const expected = Buffer.from(hash, 'hex')
  const actual = createHash('sha256').update(secret, 'utf8').digest()
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
