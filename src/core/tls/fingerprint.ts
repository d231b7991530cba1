import {createHash, X509Certificate} from 'node:crypto'

/**
 * A certificate's SHA-256 fingerprint as people read it and `openssl x509 -fingerprint -sha256` prints it:
 * 32 bytes in upper-case hex pairs joined by colons (95 characters). `der` is the certificate's DER bytes.
 */
export function fingerprintOf(der: Buffer): string {
  return colonHex(createHash('sha256').update(der).digest('hex'))
}

/** The fingerprint of the first certificate in a PEM text (a chain file starts with its leaf). */
export function fingerprintOfPem(pem: string | Buffer): string {
  return fingerprintOf(new X509Certificate(pem).raw)
}

/**
 * A fingerprint as a user may type it (64 hex digits, with or without colons, any case, optionally
 * prefixed `SHA256:` or `sha256/`) in the canonical form of {@link fingerprintOf}; null when it is not
 * 32 bytes of hex.
 */
export function normalizeFingerprint(text: string): string | null {
  const bare = text
    .trim()
    .replace(/^sha-?256\s*[:=/]?\s*(?:fingerprint\s*=\s*)?/iu, '')
    .replaceAll(/[: ]/g, '')
  if (!/^[\da-f]{64}$/iu.test(bare)) return null
  return colonHex(bare)
}

function colonHex(hex: string): string {
  return hex.toUpperCase().match(/../gu)!.join(':')
}
