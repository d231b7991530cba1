import {isIP} from 'node:net'

/** True for a listen address only this machine can reach (decides the default anonymous grant). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1' || host === '0:0:0:0:0:0:0:1'
}
