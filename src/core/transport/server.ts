import type {AddressInfo, Server, Socket} from 'node:net'

import {FRAME_HEADER_BYTES} from '../protocol/frame-header.js'
import {errors} from '../errors.js'
import {encodeFrame} from '../protocol/message-writer.js'
import {type ConnectionHooks, type ConnectionLimits, guessByteOrder, ServerConnection} from './server-connection.js'
import {type ServerSocketFactory, tcpServerFactory} from './socket-factory.js'

/** Settings of the listening socket and of every connection it accepts. */
export interface TransportOptions {
  readonly limits: ConnectionLimits
  readonly maxConnections: number
  readonly hooks: ConnectionHooks
  /** Where sockets come from (plain TCP by default). */
  readonly socketFactory?: ServerSocketFactory
  /**
   * At the connection limit, a request in progress moving fewer bytes per second than this (over
   * its rate window) may be closed to make room for a newcomer.
   */
  readonly evictBelowRate?: number
}

/** Default of {@link TransportOptions.evictBelowRate}: 32 KiB/s, well under any real link. */
export const DEFAULT_EVICT_BELOW_RATE = 32 * 1024

/** Longest wait for a refused newcomer's first frame header, to answer E_BUSY in its byte order. */
const BUSY_HEADER_WAIT_MS = 2000

/**
 * The TCP side of `iss serve`: accepts connections, enforces the connection limit and shuts down
 * gracefully. Built separately from `listen` so that tests can drive it on any port.
 */
export class TransportServer {
  readonly net: Server
  private readonly connections = new Set<ServerConnection>()
  private closing: Promise<void> | null = null

  constructor(private readonly options: TransportOptions) {
    this.net = (options.socketFactory ?? tcpServerFactory).createServer((socket) => {
      this.accept(socket)
    })
  }

  /** Open connections, refused newcomers not included. */
  get connectionCount(): number {
    return this.connections.size
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        reject(error)
      }
      this.net.once('error', onError)
      this.net.listen({port, host, exclusive: true}, () => {
        this.net.off('error', onError)
        resolve(this.net.address() as AddressInfo)
      })
    })
  }

  /**
   * Stops accepting, closes idle connections, lets requests in flight finish within `graceMs`, then
   * drops whatever is left. Safe to call more than once.
   */
  async close(graceMs: number): Promise<void> {
    this.closing ??= this.shutdown(graceMs)
    return this.closing
  }

  private async shutdown(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => {
      if (this.net.listening) {
        this.net.close(() => {
          resolve()
        })
      } else {
        resolve()
      }
    })
    const all = [...this.connections]
    const finished = Promise.all(
      all.map(
        async (connection) =>
          new Promise<void>((resolve) => {
            connection.onClose(resolve)
          }),
      ),
    )
    for (const connection of all) connection.shutdown()
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs)
    })
    await Promise.race([finished, deadline])
    clearTimeout(timer)
    for (const connection of this.connections) connection.destroy()
    await stopped
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }

    if (this.connections.size >= this.options.maxConnections && !this.makeRoom()) {
      this.refuseBusy(socket)
      return
    }

    const connection = new ServerConnection(socket, this.options.limits, this.options.hooks)
    this.connections.add(connection)
    connection.onClose(() => {
      this.connections.delete(connection)
    })
  }

  /**
   * Frees one slot by closing what makes the least progress: a connection only lingering after a
   * fatal answer; then one whose request head has not arrived (the longest waiting); then the
   * longest idle, as nginx does with keep-alive connections; then the slowest transfer below the
   * eviction rate. False when every connection is busy making progress.
   */
  private makeRoom(): boolean {
    let lingering: ServerConnection | null = null
    let headless: ServerConnection | null = null
    let idle: ServerConnection | null = null
    let slowest: ServerConnection | null = null
    const floor = this.options.evictBelowRate ?? DEFAULT_EVICT_BELOW_RATE
    for (const connection of this.connections) {
      if (connection.lingering) lingering ??= connection
      else if (connection.awaitingHead) {
        if (headless === null || connection.idleSince < headless.idleSince) headless = connection
      } else if (connection.idle) {
        if (idle === null || connection.idleSince < idle.idleSince) idle = connection
      } else if (connection.recentRate < floor && (slowest === null || connection.recentRate < slowest.recentRate)) {
        slowest = connection
      }
    }

    const victim = lingering ?? headless ?? idle ?? slowest
    if (victim === null) return false
    // Its slot is free now, even while its FIN is on the way.
    this.connections.delete(victim)
    if (victim === idle) victim.shutdown()
    else victim.destroy()
    return true
  }

  /**
   * Answers E_BUSY and closes. Waits briefly for the newcomer's first frame header so that the
   * answer goes out in the byte order it uses, then discards what it sends of that frame (bounded)
   * so that a client that writes its whole request before reading still gets the ERROR.
   */
  private refuseBusy(socket: Socket): void {
    const {limits, hooks} = this.options
    const reply = hooks.errorReply(errors.busy(), {command: null, filename: null, versioned: false})
    let header = Buffer.alloc(0)
    let received = 0
    let isAnswered = false
    let budget = 0
    const answer = () => {
      if (isAnswered) return
      isAnswered = true
      const byteOrder = guessByteOrder(header)
      const announced =
        header.length >= FRAME_HEADER_BYTES
          ? byteOrder === 'big'
            ? header.readUInt32BE(0)
            : header.readUInt32LE(0)
          : 0
      budget = FRAME_HEADER_BYTES + Math.min(announced, limits.maxFrameBytes) + 64 * 1024 - received
      socket.end(encodeFrame({...reply.message, FILE_DATA: null}, {protocol: 4, byteOrder}))
      hooks.onRequestDone?.({
        peer: `${socket.remoteAddress}:${socket.remotePort}`,
        command: null,
        filename: null,
        bytes: 0,
        durationMs: 0,
        status: 'ERROR',
        code: reply.code,
      })
    }

    const headerTimer = setTimeout(answer, Math.min(BUSY_HEADER_WAIT_MS, limits.lingerMs))
    const lingerTimer = setTimeout(() => {
      socket.destroy()
    }, limits.lingerMs + BUSY_HEADER_WAIT_MS)
    headerTimer.unref()
    lingerTimer.unref()
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (!isAnswered) {
        header = Buffer.concat([header, chunk]).subarray(0, FRAME_HEADER_BYTES)
        if (header.length >= FRAME_HEADER_BYTES) answer()
        return
      }

      budget -= chunk.length
      if (budget < 0) socket.destroy()
    })
    socket.on('end', () => {
      answer()
      socket.destroy()
    })
    socket.on('error', () => {
      socket.destroy()
    })
    socket.on('close', () => {
      clearTimeout(headerTimer)
      clearTimeout(lingerTimer)
    })
  }
}

/** A transport server, not yet listening. */
export function buildServer(options: TransportOptions): TransportServer {
  return new TransportServer(options)
}
