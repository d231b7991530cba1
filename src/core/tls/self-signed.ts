import {webcrypto, randomBytes, KeyObject} from 'node:crypto'
import {chmod, link, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {hostname} from 'node:os'
import {join} from 'node:path'

import type * as X509 from '@peculiar/x509'

/** Where `iss serve --tls` keeps the certificate it made, inside the server's data dir. */
export interface SelfSignedFiles {
  readonly certFile: string
  readonly keyFile: string
}

/** Validity of a certificate made by `iss serve --tls`: about ten years (it is pinned by fingerprint, not by date). */
const VALIDITY_DAYS = 3650

/** The files of the self-signed certificate in `dataDir` (under tls/). */
export function selfSignedFiles(dataDir: string): SelfSignedFiles {
  const dir = join(dataDir, 'tls')
  return {certFile: join(dir, 'self-signed-cert.pem'), keyFile: join(dir, 'self-signed-key.pem')}
}

/**
 * The names a self-signed certificate covers: `host` (unless it is a wildcard address such as 0.0.0.0),
 * the machine's name, localhost, 127.0.0.1 and ::1. The first is the subject's CN.
 */
export function certificateNames(host: string, machine = hostname()): string[] {
  const wildcard = ['0.0.0.0', '::', ''].includes(host)
  const names = [...(wildcard ? [] : [host]), machine, 'localhost', '127.0.0.1', '::1']
  return [...new Set(names.filter((name) => name.length > 0))]
}

/**
 * The self-signed certificate of this server: read from `dataDir`/tls when it exists (so clients that
 * remembered its fingerprint keep trusting it across restarts), otherwise made once (ECDSA P-256,
 * SHA-256, with the `@peculiar/x509` library on Node's WebCrypto) and written there, the key readable by its owner only.
 * Neither file is ever visible half-written: each is written beside its name, then linked into place
 * (a link never replaces, so of two servers starting at once the first one's pair wins).
 * Returns the PEM texts and whether they were made now.
 */
export async function ensureSelfSigned(
  dataDir: string,
  host: string,
): Promise<SelfSignedFiles & {cert: string; key: string; created: boolean}> {
  const files = selfSignedFiles(dataDir)
  const existing = await readPair(files)
  if (existing !== null) return {...files, ...existing, created: false}
  const made = await makeSelfSigned(certificateNames(host))
  await mkdir(join(dataDir, 'tls'), {recursive: true, mode: 0o700})
  // Key first: a certificate file present means its key is there too.
  await placeOnce(files.keyFile, made.key, 0o600)
  await placeOnce(files.certFile, made.cert, 0o644)
  const placed = await readPair(files)
  if (placed === null) throw new Error(`could not write the certificate in ${join(dataDir, 'tls')}`)
  return {...files, ...placed, created: placed.cert === made.cert}
}

/** A new self-signed certificate and its PKCS#8 key, both PEM, for `names` (the first is the CN). */
export async function makeSelfSigned(names: readonly string[]): Promise<{cert: string; key: string}> {
  // Loaded here: only `iss serve --tls` pays for the ASN.1 library.
  // It resolves its algorithms through tsyringe, which needs the reflect polyfill loaded first.
  // eslint-disable-next-line @typescript-eslint/no-require-imports, import-x/no-unassigned-import
  require('reflect-metadata')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const x509 = require('@peculiar/x509') as typeof X509
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
  const algorithm = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'}
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])
  // The library is typed with the DOM's CryptoKey (not in this project's lib); Node's WebCrypto keys are those objects.
  const now = Date.now()
  const cn = names[0].replaceAll(/[,+="\\<>;#]/gu, '_')
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    // Positive 16-byte serial (RFC 5280 4.1.2.2 allows up to 20 octets).
    serialNumber: '01' + randomBytes(15).toString('hex'),
    name: `CN=${cn}`,
    notBefore: new Date(now - 60 * 60 * 1000),
    notAfter: new Date(now + VALIDITY_DAYS * 24 * 60 * 60 * 1000),
    keys: keys as never,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => ({type: isIP(name) === 0 ? ('dns' as const) : ('ip' as const), value: name})),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const key = KeyObject.from(keys.privateKey).export({type: 'pkcs8', format: 'pem'})
  return {cert: cert.toString('pem') + '\n', key: String(key)}
}

async function readPair(files: SelfSignedFiles): Promise<{cert: string; key: string} | null> {
  try {
    const [cert, key] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')])
    return {cert, key}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/** Writes `text` under a temporary name with `mode`, then links it to `path` unless `path` exists. */
async function placeOnce(path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(temporary, text, {mode, flag: 'wx'})
  try {
    // writeFile's mode is masked by the umask; the key must be owner-only whatever the umask.
    await chmod(temporary, mode)
    await link(temporary, path).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    })
  } finally {
    await rm(temporary, {force: true})
  }
}
