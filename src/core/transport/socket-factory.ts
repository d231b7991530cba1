import {connect, createServer, Server, type Socket} from 'node:net'
import * as tls from 'node:tls'

/**
 * Where the server's sockets come from: every connection the server accepts is handed to
 * `onSocket` already speaking the iss protocol (plain TCP here; a TLS factory hands over sockets
 * after the handshake). As fastify takes a `serverFactory`, the transport takes one of these, and
 * nothing else in iss creates a listening socket.
 */
export interface ServerSocketFactory {
  /** A server, not yet listening. Half-open sockets allowed: a client may end its side and still read. */
  createServer(onSocket: (socket: Socket) => void): Server
}

/** Where a client's sockets come from; nothing else in iss opens a connection. */
export interface ClientSocketFactory {
  /** A socket connecting to host:port; it emits {@link readyEvent} when it is ready to speak, or 'error'. */
  connect(options: {readonly host: string; readonly port: number}): Socket
  /**
   * The event the socket emits once the iss protocol may start: 'connect' (the default) for TCP; a TLS
   * factory emits its own after the handshake and the check of the server's certificate, so that not one
   * byte of a request leaves before the server is trusted.
   */
  readonly readyEvent?: string
  /** The error a user sees for a failure before the socket was ready (a refused certificate), or undefined. */
  describeError?(error: Error, address: string): Error | undefined
}

/** Plain TCP, the default on both sides. */
export const tcpServerFactory: ServerSocketFactory = {
  createServer: (onSocket) => createServer({allowHalfOpen: true, pauseOnConnect: false}, onSocket),
}

export const tcpClientFactory: ClientSocketFactory = {
  connect: ({host, port}) => connect({host, port}),
}

/** Byte 0 of every TLS record carrying a handshake message (RFC 8446 section 5.1), so of every ClientHello. */
const TLS_HANDSHAKE_RECORD = 0x16

/** TLS 1.2 at least, on both sides. */
export const TLS_MIN_VERSION = 'TLSv1.2'

export interface TlsServerFactoryOptions {
  /** Certificate and key (PEM) and any other secure context options; replaced later with setSecureContext. */
  readonly secureContext: tls.SecureContextOptions
  /** A handshake not finished within this is dropped. */
  readonly handshakeTimeoutMs: number
  /**
   * A peer whose first byte cannot start a TLS handshake (a plain iss or seed client): it gets the raw
   * socket, with that first data not yet consumed, to answer in clear text and close.
   */
  readonly onPlainPeer: (socket: Socket) => void
  /** A handshake that failed (bad version, no shared cipher, a client that refused our certificate). */
  readonly onHandshakeError?: (error: Error, socket: Socket) => void
}

/** A TLS server factory whose certificate can be replaced while it runs. */
export interface TlsServerSocketFactory extends ServerSocketFactory {
  /** New connections use these options from now on; open ones keep theirs. Throws when they are invalid. */
  setSecureContext(options: tls.SecureContextOptions): void
}

/**
 * The server side of TLS: a TCP listener that looks at each connection's first byte; a TLS handshake
 * record goes to a `tls.Server` (injected through its 'connection' event, as node:tls documents), whose
 * secure sockets are handed on to `onSocket`; anything else goes to `onPlainPeer`, so a plain client gets
 * an answer it can read instead of a hang. Handshakes still running are dropped when the listener closes.
 */
export function tlsServerFactory(options: TlsServerFactoryOptions): TlsServerSocketFactory {
  let current: tls.Server | null = null
  let pending = options.secureContext
  return {
    setSecureContext(secureContext) {
      // Validate first: a bad pair throws here and the server keeps the certificate it has.
      tls.createSecureContext({...secureContext, minVersion: TLS_MIN_VERSION})
      pending = secureContext
      current?.setSecureContext({...secureContext, minVersion: TLS_MIN_VERSION})
    },
    createServer(onSocket) {
      const secure = tls.createServer({
        ...pending,
        minVersion: TLS_MIN_VERSION,
        allowHalfOpen: true,
        handshakeTimeout: options.handshakeTimeoutMs,
      })
      current = secure
      // Connections before the end of their handshake, by peer address (unique among open connections).
      const handshaking = new Map<string, Socket>()
      secure.on('secureConnection', (socket: tls.TLSSocket) => {
        handshaking.delete(peerKey(socket))
        onSocket(socket)
      })
      secure.on('tlsClientError', (error, socket) => {
        options.onHandshakeError?.(error, socket)
        socket.destroy()
      })
      const listener = new ClosingServer(handshaking, {allowHalfOpen: true}, (raw) => {
        const key = peerKey(raw)
        handshaking.set(key, raw)
        raw.once('close', () => {
          if (handshaking.get(key) === raw) handshaking.delete(key)
        })
        raw.setTimeout(options.handshakeTimeoutMs, () => raw.destroy())
        raw.once('error', () => raw.destroy())
        raw.once('data', (first: Buffer) => {
          raw.pause()
          raw.unshift(first)
          raw.setTimeout(0)
          if (first[0] === TLS_HANDSHAKE_RECORD) {
            // The TLS socket takes over; it is followed until its handshake ends.
            secure.emit('connection', raw)
          } else {
            handshaking.delete(key)
            options.onPlainPeer(raw)
          }
        })
      })
      return listener
    },
  }
}

/** A TCP listener that also drops connections still in their TLS handshake when it closes. */
class ClosingServer extends Server {
  constructor(
    private readonly handshaking: Map<string, Socket>,
    options: {allowHalfOpen: boolean},
    listener: (socket: Socket) => void,
  ) {
    super(options, listener)
  }

  override close(callback?: (error?: Error) => void): this {
    for (const socket of this.handshaking.values()) socket.destroy()
    this.handshaking.clear()
    return super.close(callback)
  }
}

function peerKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`
}

export interface TlsClientFactoryOptions {
  /** Trusted certificate authorities (PEM); the system's when absent. */
  readonly ca?: string | Buffer
  /**
   * Judges the server once the handshake is done, before any byte of the protocol is sent: resolve to
   * trust it, reject with the error the user should see. `authorized` is Node's verdict (chain and name).
   */
  readonly verify: (socket: tls.TLSSocket) => Promise<void>
}

/** The event a TLS client socket emits once its server is trusted. */
const TLS_READY = 'iss:tls-ready'

/**
 * The client side of TLS: connects with TLS 1.2 at least and Node's default ciphers, sends SNI for a
 * host name, and lets `verify` decide about the server's certificate (the chain check is Node's, made
 * with `ca` or the system's roots; TOFU and pinning are the verifier's). The socket is ready, and the
 * request may go out, only after `verify` resolved.
 */
export function tlsClientFactory(options: TlsClientFactoryOptions): ClientSocketFactory {
  return {
    readyEvent: TLS_READY,
    connect({host, port}) {
      const socket = tls.connect({
        host,
        port,
        ca: options.ca,
        // SNI takes host names only (RFC 6066 section 3).
        servername: /^[\d.]+$|:/u.test(host) ? undefined : host,
        minVersion: TLS_MIN_VERSION,
        // The verdict is `verify`'s: it refuses what Node would, and handles untrusted certificates as ssh does.
        rejectUnauthorized: false,
      })
      socket.once('secureConnect', () => {
        options
          .verify(socket)
          .then(() => socket.emit(TLS_READY))
          .catch((error: unknown) => socket.destroy(error as Error))
      })
      return socket
    },
  }
}
