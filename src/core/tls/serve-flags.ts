import {Flags} from '@oclif/core'
import type {Logger} from 'pino'

import type * as serveTls from './serve-tls.js'

/** The TLS flags of `iss serve`, spread into its flags. */
export const tlsServeFlags = {
  tls: Flags.boolean({
    description:
      'Serve inside TLS. Without --tls-cert/--tls-key, a self-signed certificate is made once in the data directory ' +
      '(tls/) and reused; its SHA-256 fingerprint is printed at start.',
    helpGroup: 'TLS',
  }),
  'tls-cert': Flags.string({
    description:
      'Certificate (PEM, chain after it) to serve TLS with; implies --tls. Reloaded when it changes or on SIGHUP.',
    env: 'ISS_SERVE_TLS_CERT',
    helpGroup: 'TLS',
    dependsOn: ['tls-key'],
  }),
  'tls-key': Flags.string({
    description: 'Private key (PEM, unencrypted) of --tls-cert.',
    env: 'ISS_SERVE_TLS_KEY',
    helpGroup: 'TLS',
    dependsOn: ['tls-cert'],
  }),
}

/** What `iss serve` needs from its parsed flags to set TLS up. */
export interface ServeTlsFlags {
  readonly tls?: boolean
  readonly 'tls-cert'?: string
  readonly 'tls-key'?: string
}

/** What `iss serve` needs from its parsed flags to set TLS up. */
export interface ServeTlsFlags {
  readonly tls?: boolean
  readonly 'tls-cert'?: string
  readonly 'tls-key'?: string
}

/** What `iss serve` knows that TLS needs: the data dir (self-signed certificate), --host (its names), --max-size. */
export interface ServeTlsContext {
  readonly dataDir: string
  readonly host: string
  readonly logger: Logger
  readonly maxSize: number
}

/**
 * TLS for `iss serve` (see serve-tls.ts), or null without --tls and --tls-cert. The TLS code loads only
 * when TLS is asked for, so a plain server and the command list do not pay for it.
 */
export async function setUpServeTls(flags: ServeTlsFlags, context: ServeTlsContext): Promise<serveTls.ServeTls | null> {
  if (flags.tls !== true && flags['tls-cert'] === undefined && flags['tls-key'] === undefined) return null
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./serve-tls.js') as typeof serveTls).setUpServeTls(flags, context)
}
