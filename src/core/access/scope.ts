/**
 * What a request may do. Scopes nest: admin > delete > write > read, so a token (or the anonymous
 * grant) with one scope may do everything a lower one may.
 */
export type Scope = 'read' | 'write' | 'delete' | 'admin'

/** Every scope, lowest first. */
export const SCOPES: readonly Scope[] = ['read', 'write', 'delete', 'admin']

/** What a request without a token may do: a scope, or nothing at all. */
export type AnonymousGrant = Scope | 'none'

export const ANONYMOUS_GRANTS: readonly AnonymousGrant[] = ['none', ...SCOPES]

/** The scope a handler declaration without one needs: a plugin must say what it does to get less. */
export const UNDECLARED_SCOPE: Scope = 'admin'

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value)
}

/** True when `held` is at least `needed`. `none` covers nothing. */
export function covers(held: AnonymousGrant, needed: Scope): boolean {
  if (held === 'none') return false
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed)
}
