/**
 * The DI tokens a handler or service may inject. Global symbols, so that every copy of the SDK
 * (a plugin's, the host's) names the same registration.
 */
export const Tokens = {
  /** The {@link ImageStore} of this server. */
  Store: Symbol.for('iss.Store'),
  /** The pino logger of this server. */
  Logger: Symbol.for('iss.Logger'),
  /** The {@link ServerConfig} of this server. */
  Config: Symbol.for('iss.Config'),
  /** The handler registry of this server (which plugin serves which COMMAND). */
  Registry: Symbol.for('iss.Registry'),
  /** The access policy (`AccessPolicy`) of this server: `judge(token, scope, peer)` for every front door. */
  Access: Symbol.for('iss.Access'),
} as const
