// Tokens for access tests, made the way `iss token create` makes them, written to a real tokens file.
import {newToken} from '../../src/core/access/token-secret.js'
import type {Scope} from '../../src/core/access/scope.js'
import {type TokenEntry, writeTokensFile} from '../../src/core/access/tokens-file.js'

export interface IssuedToken {
  readonly entry: TokenEntry
  /** The text a client sends (iss_<id>_<secret>). */
  readonly text: string
}

/** A token entry and its text; `expires` in ms from now (negative: already expired). */
export function issue(name: string, scope: Scope, expiresInMs: number | null = null): IssuedToken {
  const token = newToken()
  const now = Date.now()
  return {
    text: token.text,
    entry: {
      name,
      id: token.id,
      sha256: token.hash,
      scope,
      created: new Date(now).toISOString(),
      expires: expiresInMs === null ? null : new Date(now + expiresInMs).toISOString(),
    },
  }
}

/** Writes the tokens file holding exactly `tokens`. */
export async function writeTokens(path: string, tokens: readonly IssuedToken[]): Promise<void> {
  await writeTokensFile(path, {version: 1, tokens: tokens.map((token) => token.entry)})
}
