/** The scopes of the access seam (src/core/access/scope.ts once access control lands): admin > delete > write > read. */
export type Scope = 'read' | 'write' | 'delete' | 'admin'

/**
 * What the gallery asks of access control: the AccessPolicy's `judge` (registered under
 * Tokens.Access), which throws IssError E_UNAUTHORIZED or E_FORBIDDEN and otherwise names the token.
 * Writes do not call it here: they go through the protocol's request path with the bearer token as
 * the head's TOKEN, and are judged there like any protocol request.
 */
export interface GalleryAccess {
  judge(token: string | null, needed: Scope, peer: string): Promise<{tokenName: string | null}>
}

/**
 * The policy of a server without access control: every request may do everything, as on the TCP
 * side before tokens exist. Replaced by the server's AccessPolicy when it has one.
 */
export const OPEN_ACCESS: GalleryAccess = {
  async judge() {
    return {tokenName: null}
  },
}

/** The bearer token of an Authorization header, or null (no header, another scheme, or an empty token). */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)
  return match === null ? null : match[1]
}
