import {connect, createServer, type Server, type Socket} from 'node:net'

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
  /** A socket connecting to host:port; it emits 'connect' (or the factory's equivalent, ready to speak) or 'error'. */
  connect(options: {readonly host: string; readonly port: number}): Socket
}

/** Plain TCP, the default on both sides. */
export const tcpServerFactory: ServerSocketFactory = {
  createServer: (onSocket) => createServer({allowHalfOpen: true, pauseOnConnect: false}, onSocket),
}

export const tcpClientFactory: ClientSocketFactory = {
  connect: ({host, port}) => connect({host, port}),
}
