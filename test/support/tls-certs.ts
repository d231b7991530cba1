// Certificates made for a test: a private CA and a server certificate it signed, with the openssl CLI,
// and self-signed ones with the product's own maker. Files in a fresh folder; nothing is shared.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {fingerprintOfPem} from '../../src/core/tls/fingerprint.js'
import {makeSelfSigned} from '../../src/core/tls/self-signed.js'

export interface CertPair {
  readonly certFile: string
  readonly keyFile: string
  /** SHA-256 fingerprint, colon-separated upper-case hex. */
  readonly fingerprint: string
}

export interface CaSigned extends CertPair {
  /** The CA's certificate, to trust with --ca or cafile=. */
  readonly caFile: string
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, {cwd, stdio: ['ignore', 'ignore', 'pipe']})
}

/** A folder for one test's certificates. */
export function certDir(): string {
  return mkdtempSync(join(tmpdir(), 'iss-tls-'))
}

/**
 * A private CA and a server certificate it signed for `names` (DNS names and IP addresses), by the
 * openssl CLI, as an operator would make them. `prefix` names the files.
 */
export function makeCaSigned(
  dir: string,
  names: readonly string[] = ['localhost', '127.0.0.1'],
  prefix = 'server',
): CaSigned {
  const caKey = join(dir, `${prefix}-ca-key.pem`)
  const caFile = join(dir, `${prefix}-ca.pem`)
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      `/CN=iss test CA ${prefix}`,
    ],
    dir,
  )
  const keyFile = join(dir, `${prefix}-key.pem`)
  const csr = join(dir, `${prefix}.csr`)
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${names[0]}`], dir)
  const ext = join(dir, `${prefix}.ext`)
  const alt = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',')
  writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${alt}\n`,
  )
  const certFile = join(dir, `${prefix}-cert.pem`)
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      certFile,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      ext,
    ],
    dir,
  )
  return {certFile, keyFile, caFile, fingerprint: fingerprintOfPem(readFileSync(certFile))}
}

/** A self-signed certificate for `names`, made as `iss serve --tls` makes its own. */
export async function makeSelfSignedFiles(
  dir: string,
  names: readonly string[] = ['localhost', '127.0.0.1'],
  prefix = 'self',
): Promise<CertPair> {
  const {cert, key} = await makeSelfSigned(names)
  const certFile = join(dir, `${prefix}-cert.pem`)
  const keyFile = join(dir, `${prefix}-key.pem`)
  writeFileSync(certFile, cert)
  writeFileSync(keyFile, key, {mode: 0o600})
  return {certFile, keyFile, fingerprint: fingerprintOfPem(cert)}
}
