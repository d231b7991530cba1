import {randomBytes} from 'node:crypto'
import {mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'

import {normalizeFingerprint} from './fingerprint.js'

const HEADER =
  '# Servers whose TLS certificate was accepted on first use (iss --tls), one per line:\n' +
  '# host:port SHA-256-fingerprint. Remove a line to be asked again.\n'

/**
 * The client's remembered server certificates, `<config dir>/known_servers`, as ssh's known_hosts: one
 * `host:port FINGERPRINT` line per server (host as typed with --host, IPv6 in brackets). Lines that do not
 * parse are kept as they are and ignored.
 */
export class KnownServers {
  constructor(readonly path: string) {}

  /** The remembered fingerprint of `address` (host:port), or undefined. */
  async lookup(address: string): Promise<string | undefined> {
    for (const line of await this.lines()) {
      const entry = parse(line)
      if (entry?.address === address) return entry.fingerprint
    }
    return undefined
  }

  /**
   * Remembers `fingerprint` for `address`, replacing an earlier entry for it. The file is replaced
   * atomically (written beside it, then renamed), readable by its owner only.
   */
  async remember(address: string, fingerprint: string): Promise<void> {
    const kept = (await this.lines()).filter((line) => parse(line)?.address !== address)
    const body = kept.length === 0 ? HEADER : kept.join('\n') + '\n'
    await mkdir(dirname(this.path), {recursive: true})
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(temporary, `${body}${address} ${fingerprint}\n`, {mode: 0o600, flag: 'wx'})
      await rename(temporary, this.path)
    } finally {
      await rm(temporary, {force: true})
    }
  }

  private async lines(): Promise<string[]> {
    try {
      return (await readFile(this.path, 'utf8')).split('\n').filter((line) => line.length > 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  }
}

function parse(line: string): {address: string; fingerprint: string} | null {
  if (line.startsWith('#')) return null
  const [address, fingerprint, ...rest] = line.trim().split(/\s+/u)
  if (fingerprint === undefined || rest.length > 0) return null
  const normal = normalizeFingerprint(fingerprint)
  return normal === null ? null : {address, fingerprint: normal}
}
