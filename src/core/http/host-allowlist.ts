import {networkInterfaces} from 'node:os'

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1']

/** The host part of a Host header (no port; IPv6 without brackets), lower-cased; null when malformed. */
export function hostOfHeader(header: string | undefined): string | null {
  if (header === undefined || header.length === 0 || header.length > 255) return null
  const lower = header.toLowerCase()
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']')
    if (end === -1) return null
    const rest = lower.slice(end + 1)
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null
    return lower.slice(1, end)
  }

  const match = /^([a-z\d.-]+)(?::\d{1,5})?$/.exec(lower)
  return match === null ? null : match[1].replace(/\.$/, '')
}

/**
 * The names a gallery answers to, against DNS rebinding (a web page that makes its own host name
 * resolve to this server would otherwise read and write the store through the visitor's browser):
 * loopback names, the bound address (every local interface's address when bound to all of them),
 * and the names given with --http-allow-host.
 */
export function allowedHosts(boundAddress: string, extra: readonly string[] = []): ReadonlySet<string> {
  const hosts = new Set<string>([...LOOPBACK_NAMES, boundAddress.toLowerCase()])
  if (boundAddress === '0.0.0.0' || boundAddress === '::') {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) hosts.add(address.address.toLowerCase())
    }
  }

  for (const name of extra) hosts.add(hostOfHeader(name) ?? name.toLowerCase())
  return hosts
}

/** True when a request's Host header names this server. */
export function isAllowedHost(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  const host = hostOfHeader(header)
  return host !== null && (allowed.has(host) || /^127(?:\.\d{1,3}){3}$/.test(host))
}
