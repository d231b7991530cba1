import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import type {TLSSocket} from 'node:tls'

import {TlsTrustError, UsageError} from '../errors.js'
import {ClientConnection, type ClientConnectionOptions, formatAddress} from '../transport/client-connection.js'
import {tlsClientFactory} from '../transport/socket-factory.js'
import type {ClientTlsSettings} from './client-flags.js'
import {fingerprintOf, normalizeFingerprint} from './fingerprint.js'
import {KnownServers} from './remembered-certificates.js'

/** Whether a person can be asked: a terminal on both stdin (the answer) and stderr (the question). */
export function canAsk(): boolean {
  return process.stdin.isTTY && process.stderr.isTTY
}

/**
 * Connects with TLS and judges the server's certificate before any byte of a request leaves:
 * - with --fingerprint, the certificate must have that SHA-256, nothing else counts (a private CA, a
 *   self-signed certificate, an IP address: the pin is the whole check);
 * - with --ca, Node's check against that CA and the host name must pass;
 * - otherwise, a certificate the system trusts for the host name passes; one it does not is handled as
 *   ssh does: accepted if `<config dir>/known_servers` remembers its fingerprint for this host:port,
 *   refused loudly if it remembers another; unknown, a person on a terminal is shown the fingerprint and
 *   asked once (yes: remembered, and the connection is made again), and without a terminal the refusal
 *   prints the fingerprint and the flag that pins it.
 */
export async function connectTls(
  settings: ClientTlsSettings,
  configDir: string,
  options: Omit<ClientConnectionOptions, 'socketFactory'>,
  ask: (question: string) => Promise<string> = askOnTerminal,
): Promise<ClientConnection> {
  const pinned = pinnedFingerprint(settings.fingerprint)
  const ca = settings.ca === undefined ? undefined : await readCa(settings.ca)
  const address = formatAddress(options.host, options.port)
  const known = new KnownServers(join(configDir, 'known_servers'))
  const socketFactory = tlsClientFactory({
    ca,
    verify: async (socket) => judge(socket, {address, pinned, caFile: settings.ca, known}),
  })
  const describeError = (error: Error, where: string) => handshakeError(error, where)
  const factory = {...socketFactory, describeError}
  try {
    return await ClientConnection.connect({...options, socketFactory: factory})
  } catch (error) {
    if (!(error instanceof TlsTrustError) || error.code !== 'E_TLS_UNTRUSTED' || error.fingerprint === null) throw error
    if (pinned !== null || ca !== undefined || !canAsk()) throw error
    const fingerprint = error.fingerprint
    const answer = await ask(
      `The certificate of ${address} is not trusted by this system (${(error.cause as Error | undefined)?.message ?? 'unknown issuer'}).\n` +
        `Its SHA-256 fingerprint is ${fingerprint}\n` +
        `Compare it with the one \`iss serve\` printed at start. Trust it, and remember it for ${address} in ${known.path}? (yes/no) `,
    )
    if (!/^\s*y(?:es)?\s*$/iu.test(answer)) {
      throw new TlsTrustError(
        'E_TLS_UNTRUSTED',
        `not connecting to ${address}: its certificate was not accepted`,
        fingerprint,
      )
    }
    await known.remember(address, fingerprint)
    process.stderr.write(`Remembered ${address} in ${known.path}\n`)
    return ClientConnection.connect({...options, socketFactory: factory})
  }
}

interface Judgement {
  readonly address: string
  readonly pinned: string | null
  readonly caFile: string | undefined
  readonly known: KnownServers
}

/** Resolves when the server may be trusted; rejects with the TlsTrustError the user sees. */
async function judge(socket: TLSSocket, {address, pinned, caFile, known}: Judgement): Promise<void> {
  const certificate = socket.getPeerCertificate()
  if (certificate.raw === undefined) {
    throw new TlsTrustError('E_TLS_UNTRUSTED', `${address} sent no TLS certificate`)
  }
  const fingerprint = fingerprintOf(certificate.raw)
  if (pinned !== null) {
    if (fingerprint === pinned) return
    throw new TlsTrustError(
      'E_TLS_FINGERPRINT',
      `the certificate of ${address} has SHA-256 fingerprint ${fingerprint}, not ${pinned} given with --fingerprint: ` +
        'refusing to connect (someone may be intercepting the connection, or the server has a new certificate)',
      fingerprint,
    )
  }
  if (socket.authorized) return
  const why = untrustedBecause(String(socket.authorizationError))
  if (caFile !== undefined) {
    throw new TlsTrustError(
      'E_TLS_UNTRUSTED',
      `the certificate of ${address} is not trusted with --ca ${caFile}: ${why} (SHA-256 fingerprint ${fingerprint})`,
      fingerprint,
    )
  }
  const remembered = await known.lookup(address)
  if (remembered === fingerprint) return
  if (remembered !== undefined) {
    throw new TlsTrustError(
      'E_TLS_CHANGED',
      `WARNING: THE CERTIFICATE OF ${address} HAS CHANGED. Someone may be intercepting the connection ` +
        `(or the server has a new certificate). Remembered: ${remembered}; now: ${fingerprint}. Refusing to connect; ` +
        `if the change is expected, remove the line of ${address} from ${known.path}`,
      fingerprint,
    )
  }
  throw new TlsTrustError(
    'E_TLS_UNTRUSTED',
    `the certificate of ${address} is not trusted (${why}); its SHA-256 fingerprint is ${fingerprint}. ` +
      `If that is the server's (\`iss serve\` prints it at start), connect with --fingerprint ${fingerprint}, ` +
      'or give the CA that issued it with --ca FILE',
    fingerprint,
    {cause: new Error(why)},
  )
}

/** Node's (OpenSSL's) verdict on a certificate in words; the code itself for the rare ones. */
function untrustedBecause(code: string): string {
  const words: Record<string, string> = {
    DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
    SELF_SIGNED_CERT_IN_CHAIN: 'it was issued by a CA this system does not trust',
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'it was issued by a CA this system does not trust',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'it was issued by a CA this system does not trust',
    ERR_TLS_CERT_ALTNAME_INVALID: 'it was not issued for this host name',
    CERT_HAS_EXPIRED: 'it has expired',
    CERT_NOT_YET_VALID: 'it is not valid yet',
  }
  return words[code] ?? code
}

/** The one line for a TLS failure before the server was judged; undefined for plain socket errors. */
function handshakeError(error: Error, address: string): Error | undefined {
  if (error instanceof TlsTrustError) return error
  const code = (error as NodeJS.ErrnoException).code ?? ''
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER|UNKNOWN_PROTOCOL/u.test(code)) {
    return new TlsTrustError(
      'E_TLS_HANDSHAKE',
      `${address} does not speak TLS (it answered the TLS handshake in clear text): is it a server started without --tls? ` +
        'Connect without --tls',
      null,
      {cause: error},
    )
  }
  if (code.startsWith('ERR_SSL_') || error.message.includes('before secure TLS connection')) {
    return new TlsTrustError(
      'E_TLS_HANDSHAKE',
      `no TLS session with ${address}: ${error.message}. Is it an iss server started with --tls?`,
      null,
      {cause: error},
    )
  }
  return undefined
}

function pinnedFingerprint(text: string | undefined): string | null {
  if (text === undefined) return null
  const normal = normalizeFingerprint(text)
  if (normal === null) {
    throw new UsageError(
      `--fingerprint must be a SHA-256 fingerprint: 64 hex digits, colons optional (as \`iss serve --tls\` prints), not '${text.slice(0, 120)}'`,
    )
  }
  return normal
}

async function readCa(path: string): Promise<Buffer> {
  try {
    const pem = await readFile(path)
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it')
    return pem
  } catch (error) {
    throw new UsageError(`--ca ${path}: ${(error as Error).message}`)
  }
}

async function askOnTerminal(question: string): Promise<string> {
  const terminal = createInterface({input: process.stdin, output: process.stderr, terminal: true})
  try {
    return await new Promise<string>((resolve) => {
      terminal.question(question, resolve)
    })
  } finally {
    terminal.close()
  }
}
