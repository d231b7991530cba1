import type {Socket} from 'node:net'
import {createSecureContext, type SecureContextOptions} from 'node:tls'

import {DEFAULT_HEADER_TIMEOUT_MS, maxFrameBytes} from '../config.js'
import {refusePlainPeer} from '../transport/tls-plain-peer.js'
import {type TlsServerSocketFactory, tlsServerFactory, TLS_MIN_VERSION} from '../transport/socket-factory.js'
import {peerOf} from '../transport/server-connection.js'
import {TlsCredentials} from './credentials.js'
import {ensureSelfSigned} from './self-signed.js'
import type {ServeTlsContext, ServeTlsFlags} from './serve-flags.js'

/** TLS as set up for one `iss serve`: its socket factory, its credentials (for another front door), lines to print. */
export interface ServeTls {
  readonly socketFactory: TlsServerSocketFactory
  /**
   * The certificate in force and its reloads. HTTPS front doors use `credentials.current()` for their
   * options and `credentials.onReload(options => server.setSecureContext(options))`.
   */
  readonly credentials: TlsCredentials
  /** For the start-up output: where the certificate comes from and its fingerprint. */
  readonly lines: readonly string[]
  /** Stops watching the files and listening for SIGHUP. */
  close(): void
}

/** Throws the way tls.createSecureContext does for a pair TLS cannot use (key not matching, bad PEM). */
function validateSecureContext(options: SecureContextOptions): void {
  createSecureContext({...options, minVersion: TLS_MIN_VERSION})
}

/**
 * Sets TLS up for `iss serve` from its flags, or returns null without --tls and --tls-cert. Loads the
 * given pair, or makes/reuses the self-signed one in `dataDir`; reloads it when its files change and on
 * SIGHUP (logged with the new fingerprint, or the reason it was refused and the old one kept). A plain
 * client on the port gets one clear-text ERROR (E_TLS_REQUIRED). Throws an Error with a one-line message
 * when the files cannot be used.
 */
export async function setUpServeTls(flags: ServeTlsFlags, context: ServeTlsContext): Promise<ServeTls | null> {
  const {logger} = context
  const certFile = flags['tls-cert']
  const keyFile = flags['tls-key']
  if (flags.tls !== true && certFile === undefined && keyFile === undefined) return null
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new Error(
      '--tls-cert and --tls-key go together: give both, or neither (with --tls) for a self-signed certificate',
    )
  }
  const lines: string[] = []
  let files
  if (certFile !== undefined && keyFile !== undefined) {
    files = {certFile, keyFile}
  } else {
    const made = await ensureSelfSigned(context.dataDir, context.host)
    files = made
    lines.push(`tls: ${made.created ? 'made a' : 'using the'} self-signed certificate ${made.certFile}`)
  }
  const credentials = await TlsCredentials.load(files, validateSecureContext)
  if (lines.length === 0) lines.push(`tls: certificate ${files.certFile}`)
  lines.push(`tls: SHA-256 fingerprint ${credentials.fingerprint}`)

  const socketFactory = tlsServerFactory({
    secureContext: credentials.current(),
    handshakeTimeoutMs: DEFAULT_HEADER_TIMEOUT_MS,
    onPlainPeer(socket: Socket) {
      const details = refusePlainPeer(socket, {
        lingerMs: DEFAULT_HEADER_TIMEOUT_MS,
        maxFrameBytes: maxFrameBytes(context.maxSize),
      })
      logger.info({peer: peerOf(socket), status: 'ERROR', code: 'E_TLS_REQUIRED'}, details)
    },
    onHandshakeError(error, socket) {
      logger.info({peer: peerOf(socket), err: error.message}, 'TLS handshake failed')
    },
  })
  const unsubscribe = credentials.onReload((options) => {
    socketFactory.setSecureContext(options)
  })
  credentials.watch((outcome) => {
    if (outcome.ok) {
      if (outcome.changed) logger.info({fingerprint: outcome.fingerprint}, 'TLS certificate loaded')
    } else logger.warn({err: outcome.error.message}, 'TLS certificate not reloaded; the previous one stays in use')
  })
  const onHangUp = () => {
    void credentials.reload().then((outcome) => {
      if (outcome.ok) logger.info({fingerprint: outcome.fingerprint, signal: 'SIGHUP'}, 'TLS certificate loaded')
      else
        logger.warn(
          {err: outcome.error.message, signal: 'SIGHUP'},
          'TLS certificate not reloaded; the previous one stays in use',
        )
    })
  }
  process.on('SIGHUP', onHangUp)
  return {
    socketFactory,
    credentials,
    lines,
    close() {
      process.off('SIGHUP', onHangUp)
      unsubscribe()
      credentials.close()
    },
  }
}
