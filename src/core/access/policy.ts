import {setTimeout as sleep} from 'node:timers/promises'

import {errors} from '../errors.js'
import {FailureThrottle, peerAddress} from './failure-throttle.js'
import {type AnonymousGrant, covers, type Scope} from './scope.js'
import {parseToken, secretMatches} from './token-secret.js'
import type {TokenEntry} from './tokens-file.js'
import {fixedTokens, type TokenSource} from './tokens-watch.js'

/** Who a request comes from, once judged: a token's name (null: anonymous) and the scope it holds. */
export interface AccessGrant {
  readonly tokenName: string | null
  readonly scope: AnonymousGrant
}

/** Facts about the request that make a refusal clearer; none of them changes the verdict. */
export interface JudgeContext {
  /** The COMMAND (or route) judged, named in E_FORBIDDEN. */
  readonly command?: string
  /** A TOKEN came after FILE_DATA, where it does not count: the refusal says so. */
  readonly tokenAfterData?: boolean
}

/** The access seam every front door calls (TCP on the request head, HTTP with a Bearer token). */
export interface AccessJudge {
  /**
   * Resolves with who the request comes from when `token` (null: none) grants `needed`; throws
   * IssError E_UNAUTHORIZED (no token where one is needed; unknown, expired or revoked token) or
   * E_FORBIDDEN (valid token, scope too low). Failures from one address are slowed down.
   */
  judge(token: string | null, needed: Scope, peer: string, context?: JudgeContext): Promise<AccessGrant>
}

export interface AccessPolicyOptions {
  /** The tokens in force (a {@link TokensWatcher} on a server). Default: none. */
  readonly tokens?: TokenSource
  /**
   * What a request without a token may do. 'auto': admin when bound to loopback with no tokens,
   * read when tokens exist, none off loopback with no tokens (serve refuses to start that way).
   */
  readonly anonymous?: AnonymousGrant | 'auto'
  /** The server is bound to loopback only (decides 'auto'). */
  readonly loopback?: boolean
  readonly throttle?: FailureThrottle
  readonly now?: () => number
}

const HOW_TO_SEND =
  'send a token with --token or ISS_TOKEN (a seed client adds a TOKEN key to its dict, and TOKEN must come ' +
  'before FILE_DATA: the server judges access on the keys before FILE_DATA)'

const UNKNOWN_ID_HASH = '0'.repeat(64)

/**
 * Tokens, scopes and the anonymous grant: decides whether a request may run. Knows nothing of
 * sockets or stores. Registered under `Tokens.Access`; when a token is used its "last used" time is
 * kept in memory (see {@link lastUsed}) and written out by the server now and then, never per request.
 */
export class AccessPolicy implements AccessJudge {
  private readonly source: TokenSource
  private readonly anonymousSetting: AnonymousGrant | 'auto'
  private readonly loopback: boolean
  private readonly throttle: FailureThrottle
  private readonly now: () => number
  private readonly used = new Map<string, number>()
  private byId = new Map<string, TokenEntry>()
  private indexed: readonly TokenEntry[] | null = null

  constructor(options: AccessPolicyOptions = {}) {
    this.source = options.tokens ?? fixedTokens()
    this.anonymousSetting = options.anonymous ?? 'auto'
    this.loopback = options.loopback ?? true
    this.throttle = options.throttle ?? new FailureThrottle()
    this.now = options.now ?? Date.now
  }

  /** What a request without a token may do now (follows the tokens file when 'auto'). */
  anonymous(): AnonymousGrant {
    if (this.anonymousSetting !== 'auto') return this.anonymousSetting
    if (this.source.tokens().length > 0) return 'read'
    return this.loopback ? 'admin' : 'none'
  }

  /** Token id -> when it was last accepted (ms since the epoch), since this server started. */
  lastUsed(): ReadonlyMap<string, number> {
    return this.used
  }

  async judge(token: string | null, needed: Scope, peer: string, context: JudgeContext = {}): Promise<AccessGrant> {
    const grant = await this.identify(token, peer)
    this.check(grant, needed, context)
    return grant
  }

  /**
   * Throws E_UNAUTHORIZED (a request without a token that the anonymous grant does not cover) or
   * E_FORBIDDEN (a token whose scope is too low) unless `grant` covers `needed`.
   */
  check(grant: AccessGrant, needed: Scope, context: JudgeContext = {}): void {
    if (covers(grant.scope, needed)) return
    if (grant.tokenName !== null)
      throw errors.forbidden(grant.tokenName, grant.scope, context.command ?? 'this request', needed)
    const why = context.tokenAfterData
      ? `this request's TOKEN came after FILE_DATA, where it does not count: TOKEN must come before FILE_DATA ` +
        `(the server judges access on the keys before FILE_DATA)`
      : `${context.command ?? 'this request'} needs a token with scope ${needed}; ${HOW_TO_SEND}`
    throw errors.unauthorized(why)
  }

  /**
   * Who a token (null: none) belongs to and what it may do, whatever the request; throws E_UNAUTHORIZED
   * for an unknown, revoked or expired token. Failures from one address are slowed down.
   */
  async identify(token: string | null, peer: string): Promise<AccessGrant> {
    if (token === null) return {tokenName: null, scope: this.anonymous()}

    const address = peerAddress(peer)
    const wait = this.throttle.reserve(address)
    if (wait > 0) await sleep(wait)
    const entry = this.find(token)
    if (entry === undefined) {
      this.throttle.failed(address)
      // One text for unknown, revoked and malformed: nothing tells a guesser which ids exist.
      throw errors.unauthorized(`the token was not accepted (unknown or revoked); ${HOW_TO_SEND}`)
    }

    if (entry.expires !== null && Date.parse(entry.expires) <= this.now()) {
      this.throttle.failed(address)
      // Only the holder of the secret gets this far, so naming the expiry tells nothing to a guesser.
      throw errors.unauthorized(`the token expired at ${entry.expires}; ask the server's admin for a new one`)
    }

    this.throttle.succeeded(address)
    this.used.set(entry.id, this.now())
    return {tokenName: entry.name, scope: entry.scope}
  }

  /** The entry whose id and secret match the token's text. */
  private find(token: string): TokenEntry | undefined {
    const parts = parseToken(token)
    if (parts === null) return undefined
    const entry = this.index().get(parts.id)
    // Hash whether or not the id is known, so the time taken does not tell which ids exist.
    const matches = secretMatches(parts.secret, entry?.sha256 ?? UNKNOWN_ID_HASH)
    return entry !== undefined && matches ? entry : undefined
  }

  /** The tokens by id, rebuilt only when the source hands out a new list (a reload). */
  private index(): Map<string, TokenEntry> {
    const tokens = this.source.tokens()
    if (tokens !== this.indexed) {
      this.byId = new Map(tokens.map((entry) => [entry.id, entry]))
      this.indexed = tokens
    }

    return this.byId
  }
}
