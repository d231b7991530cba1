import type {AccessGrant, JudgeContext} from '../access/policy.js'
import {type AnonymousGrant, type Scope} from '../access/scope.js'

export type {Scope} from '../access/scope.js'

/**
 * What the gallery asks of access control: the server's AccessPolicy (`IssServer.access`, also
 * `Tokens.Access`). Reads are judged here with the bearer token; writes are not: they go through
 * the protocol's request path with the bearer token as the head's TOKEN, and are judged there by
 * the scope their handler declares, like any protocol request.
 */
export interface GalleryAccess {
  /** Throws IssError E_UNAUTHORIZED or E_FORBIDDEN unless `token` grants `needed`. */
  judge(token: string | null, needed: Scope, peer: string, context?: JudgeContext): Promise<AccessGrant>
  /** Who a token belongs to and its scope; throws E_UNAUTHORIZED for a token that is not accepted. */
  identify(token: string | null, peer: string): Promise<AccessGrant>
}

/** A server with no access control (a test of the gallery alone): every request may do everything. */
export const OPEN_ACCESS: GalleryAccess = {
  async judge() {
    return {tokenName: null, scope: 'admin'}
  },
  async identify() {
    return {tokenName: null, scope: 'admin'}
  },
}

/** What a token may do, for the page: null when the token is not accepted at all. */
export async function grantOf(
  access: GalleryAccess,
  token: string | null,
  peer: string,
): Promise<AnonymousGrant | null> {
  try {
    return (await access.identify(token, peer)).scope
  } catch {
    return null
  }
}

/** The bearer token of an Authorization header, or null (no header, another scheme, or an empty token). */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  return match === null ? null : match[1]
}

export {covers} from '../access/scope.js'
