/** Settings of a {@link FailureThrottle}; times in ms. */
export interface ThrottleOptions {
  /** Delay after the first failure; each further failure doubles it. */
  readonly baseDelayMs?: number
  /** The delay never grows past this (below the server's 10 s header timeout). */
  readonly maxDelayMs?: number
  /** Failures are forgotten after this long without a new one. */
  readonly forgetAfterMs?: number
  /** Peer addresses remembered at most; past it the least recently failing is forgotten. */
  readonly maxPeers?: number
  readonly now?: () => number
}

interface PeerRecord {
  failures: number
  /** When this peer's next attempt may be judged. */
  next: number
  last: number
}

/**
 * Slows down token guessing: after a failed attempt from an address, that address's next attempts are
 * judged one at a time, each after a delay that doubles with every failure (100 ms, 200 ms, ... up to
 * 5 s). Keyed by address without port, so new connections do not reset it. Memory is bounded: at most
 * `maxPeers` addresses (about 100 bytes each), the least recent dropped first.
 */
export class FailureThrottle {
  private readonly peers = new Map<string, PeerRecord>()
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly forgetAfterMs: number
  private readonly maxPeers: number
  private readonly now: () => number

  constructor(options: ThrottleOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 100
    this.maxDelayMs = options.maxDelayMs ?? 5000
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000
    this.maxPeers = options.maxPeers ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.peers.size
  }

  /** How long an attempt from `address` must wait before it is judged (0 for one with no recent failures); reserves that turn. */
  reserve(address: string): number {
    const record = this.current(address)
    if (record === undefined) return 0
    const now = this.now()
    const start = Math.max(now, record.next)
    record.next = start + this.delayFor(record.failures)
    return start - now
  }

  /** Records a failed attempt from `address`. */
  failed(address: string): void {
    const now = this.now()
    const record = this.current(address) ?? {failures: 0, next: now, last: now}
    record.failures = Math.min(record.failures + 1, 32)
    record.last = now
    record.next = Math.max(record.next, now + this.delayFor(record.failures))
    // Re-inserting keeps the map in order of last failure, so the oldest is first to go.
    this.peers.delete(address)
    this.peers.set(address, record)
    while (this.peers.size > this.maxPeers) this.peers.delete(this.peers.keys().next().value!)
  }

  /** A success from `address` clears its record (a person who mistyped, then got it right). */
  succeeded(address: string): void {
    this.peers.delete(address)
  }

  private current(address: string): PeerRecord | undefined {
    const record = this.peers.get(address)
    if (record !== undefined && this.now() - record.last > this.forgetAfterMs) {
      this.peers.delete(address)
      return undefined
    }

    return record
  }

  private delayFor(failures: number): number {
    return Math.min(this.baseDelayMs * 2 ** (failures - 1), this.maxDelayMs)
  }
}

/** The address part of a peer written `host:port` or `[v6]:port`. */
export function peerAddress(peer: string): string {
  if (peer.startsWith('[')) return peer.slice(1, Math.max(1, peer.indexOf(']')))
  const colon = peer.lastIndexOf(':')
  return colon > 0 ? peer.slice(0, colon) : peer
}
