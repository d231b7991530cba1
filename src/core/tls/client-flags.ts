import {Flags} from '@oclif/core'

import {ClientConnection, type ClientConnectionOptions} from '../transport/client-connection.js'
import type * as clientTrust from './client-trust.js'

/** The TLS flags every client command has, on the shared base (src/core/protocol-command.ts). */
export const tlsClientFlags = {
  tls: Flags.boolean({
    allowNo: true,
    env: 'ISS_TLS',
    helpGroup: 'CONNECTION',
    summary: 'Speak TLS to the server (`iss serve --tls`). Implied by --ca and --fingerprint.',
  }),
  ca: Flags.string({
    env: 'ISS_CA',
    helpGroup: 'CONNECTION',
    summary: "Trust the server's certificate only if this CA (PEM file) issued it. Implies --tls.",
  }),
  fingerprint: Flags.string({
    env: 'ISS_FINGERPRINT',
    helpGroup: 'CONNECTION',
    summary:
      "Trust the server only if its certificate's SHA-256 fingerprint is this (hex, colons optional). Implies --tls.",
  }),
}

/** How a client talks TLS, from its flags (or a profile). */
export interface ClientTlsSettings {
  readonly tls?: boolean
  /** Path of a PEM file of trusted CAs. */
  readonly ca?: string
  /** The server certificate's SHA-256, as the user typed it. */
  readonly fingerprint?: string
}

/** True when the settings ask for TLS: --tls, or --ca or --fingerprint (which make sense only with it). */
export function wantsTls(settings: ClientTlsSettings): boolean {
  if (settings.tls === false) return false
  return settings.tls === true || settings.ca !== undefined || settings.fingerprint !== undefined
}

/**
 * Opens a client connection, inside TLS when `settings` ask for it (see client-trust.ts for how the
 * server's certificate is judged; `configDir` holds known_servers). Rejects like ClientConnection.connect,
 * plus TlsTrustError (a refused certificate), UsageError (a bad --fingerprint, an unreadable --ca).
 */
export async function connectClient(
  settings: ClientTlsSettings,
  configDir: string,
  options: Omit<ClientConnectionOptions, 'socketFactory'>,
): Promise<ClientConnection> {
  if (!wantsTls(settings)) return ClientConnection.connect(options)
  // Loaded only for TLS, so plain commands do not pay for node:tls.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./client-trust.js') as typeof clientTrust).connectTls(settings, configDir, options)
}
