import {expect} from 'chai'
import {Readable} from 'node:stream'
import net from 'node:net'

import type {Message} from '../../src/core/protocol/message.js'
import {MessageReader, type ReaderEvent} from '../../src/core/protocol/message-reader.js'
import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {ClientConnection, isConnectionError} from '../../src/core/transport/client-connection.js'

interface Seen {
  connections: number
  requests: Array<{message: Message; byteOrder: string; fileBytes: number}>
}

/**
 * A fake server that decodes requests with our reader and answers each through `answer`. With
 * `earlyError`, a PUT whose FILE_DATA is announced over that many bytes is answered ERROR at once.
 */
async function fakeServer(options: {earlyError?: number} = {}) {
  const seen: Seen = {connections: 0, requests: []}
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    seen.connections++
    sockets.add(socket)
    socket.on('error', () => {})
    const reader = new MessageReader({maxFrameBytes: 2 ** 31, byteOrder: 'detect'})
    let fileBytes = 0
    let refused = false
    socket.on('data', (chunk: Buffer) => {
      const events: ReaderEvent[] = []
      try {
        reader.write(chunk, events)
      } catch {
        socket.destroy()
        return
      }
      for (const event of events) {
        if (event.type === 'stream-start' && options.earlyError !== undefined && event.maxLength > options.earlyError) {
          refused = true
          socket.write(
            encodeFrame({COMMAND: 'PUT', STATUS: 'ERROR', DETAILS: 'too large', FILENAME: null, FILE_DATA: null}),
          )
        } else if (event.type === 'stream-data') fileBytes += event.chunk.length
        else if (event.type === 'message') {
          seen.requests.push({message: event.message, byteOrder: event.byteOrder, fileBytes})
          fileBytes = 0
          if (refused) {
            refused = false
            continue
          }
          socket.write(
            encodeFrame(
              {
                COMMAND: event.message.COMMAND,
                STATUS: 'OK',
                DETAILS: null,
                FILENAME: event.message.FILENAME,
                FILE_DATA: event.message.COMMAND === 'GET' ? Buffer.from('hello') : null,
              },
              {byteOrder: event.byteOrder},
            ),
          )
        }
      }
    })
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve)
  })
  const {port} = server.address() as net.AddressInfo
  return {
    port,
    seen,
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => {
        server.close(resolve)
      })
    },
  }
}

function put(name: string) {
  return {COMMAND: 'PUT', STATUS: 'REQUEST', DETAILS: null, FILENAME: name, FILE_DATA: null, extra: {VERSION: 1n}}
}

describe('ClientConnection', function () {
  this.timeout(30_000)

  it('sends several streamed requests over one connection, in the byte order asked for', async () => {
    const server = await fakeServer()
    try {
      for (const byteOrder of ['big', 'little'] as const) {
        const connection = await ClientConnection.connect({
          host: '127.0.0.1',
          port: server.port,
          timeoutMs: 5000,
          byteOrder,
          maxSize: 1024 * 1024,
        })
        for (const size of [1, 70_000, 300_000]) {
          const data = Buffer.alloc(size, 1)
          const response = await connection.request(put(`f${size}.png`), {
            fileData: {length: size, stream: Readable.from([data.subarray(0, 7), data.subarray(7)])},
          })
          expect(response.STATUS).to.equal('OK')
        }

        const chunks: Buffer[] = []
        const get = await connection.request(
          {COMMAND: 'GET', STATUS: 'REQUEST', DETAILS: null, FILENAME: 'x.png', FILE_DATA: null},
          {
            sink: {
              write(chunk) {
                chunks.push(chunk)
              },
            },
          },
        )
        expect(get.STATUS).to.equal('OK')
        expect(Buffer.concat(chunks).toString()).to.equal('hello')
        connection.close()
      }

      expect(server.seen.connections).to.equal(2)
      expect(server.seen.requests.map((r) => [r.byteOrder, r.fileBytes])).to.deep.equal([
        ['big', 1],
        ['big', 70_000],
        ['big', 300_000],
        ['big', 0],
        ['little', 1],
        ['little', 70_000],
        ['little', 300_000],
        ['little', 0],
      ])
      // VERSION travels as a Python int (a bigint on our side), not a float.
      expect(server.seen.requests[0].message.VERSION).to.equal(1)
      expect(server.seen.requests[0].message.extra.size).to.equal(0)
    } finally {
      await server.close()
    }
  })

  it('stops sending when the server answers ERROR early, returns it, and is then closed', async () => {
    const server = await fakeServer({earlyError: 1024 * 1024})
    try {
      const connection = await ClientConnection.connect({
        host: '127.0.0.1',
        port: server.port,
        timeoutMs: 5000,
        byteOrder: 'big',
        maxSize: 1024,
      })
      // An endless source: the connection must stop reading it once the answer is in.
      let produced = 0
      const endless = new Readable({
        read() {
          produced += 65_536
          this.push(Buffer.alloc(65_536))
        },
      })
      const size = 512 * 1024 * 1024
      const response = await connection.request(put('big.png'), {fileData: {length: size, stream: endless}})
      expect(response.STATUS).to.equal('ERROR')
      expect(produced).to.be.below(size / 4)
      expect(connection.usable).to.equal(false)
    } finally {
      await server.close()
    }
  })

  it('fails the request, and closes, when the file shrinks under it', async () => {
    const server = await fakeServer()
    try {
      const connection = await ClientConnection.connect({
        host: '127.0.0.1',
        port: server.port,
        timeoutMs: 5000,
        byteOrder: 'big',
        maxSize: 1024,
      })
      let caught: unknown
      await connection
        .request(put('short.png'), {fileData: {length: 100, stream: Readable.from([Buffer.alloc(10)])}})
        .catch((error: unknown) => {
          caught = error
        })
      expect(caught).to.be.instanceOf(Error)
      expect((caught as Error).message).to.contain('shrank')
      expect(connection.usable).to.equal(false)
    } finally {
      await server.close()
    }
  })

  it('refused: a ConnectionError of kind refused', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => {
      probe.listen(0, '127.0.0.1', resolve)
    })
    const {port} = probe.address() as net.AddressInfo
    await new Promise((resolve) => {
      probe.close(resolve)
    })
    const error = await ClientConnection.connect({
      host: '127.0.0.1',
      port,
      timeoutMs: 2000,
      byteOrder: 'big',
      maxSize: 1,
    }).catch((error_: unknown) => error_)
    expect(isConnectionError(error)).to.equal(true)
    expect(error).to.include({kind: 'refused', address: `127.0.0.1:${port}`})
  })
})
