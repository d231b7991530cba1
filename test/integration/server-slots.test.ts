import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {connect, type Socket} from 'node:net'
import {promisify} from 'node:util'

import {DEFAULT_MAX_CONNECTIONS} from '../../src/core/config.js'
import {encodeFrame, encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {png, RawClient, request, type RunningServer, startServer} from './server-harness.js'

/** Opens `count` sockets to the server, each having sent `bytes` (possibly nothing); all bounded in time. */
async function openSockets(port: number, count: number, bytes: Buffer): Promise<Socket[]> {
  const sockets: Socket[] = []
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from(
        {length: Math.min(100, count - i)},
        async () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = connect({port, host: '127.0.0.1'}, () => {
              if (bytes.length > 0) socket.write(bytes)
              resolve(socket)
            })
            socket.on('error', () => {
              // A socket the server evicts may see a reset; that is the point.
            })
            socket.once('error', reject)
          }),
      ),
    )
    sockets.push(...batch)
  }

  return sockets
}

/** Milliseconds a fresh client's LIST takes to be answered. */
async function timedList(port: number): Promise<{ms: number; status: unknown}> {
  const start = performance.now()
  const client = await RawClient.connect(port)
  try {
    client.send(request('LIST'))
    const answer = await client.read(10_000)
    return {ms: performance.now() - start, status: answer.STATUS}
  } finally {
    client.close()
  }
}

/** CPython connects, sends `hex`, and reads one frame as the seed does: struct '!I', then pickle.loads. */
async function pythonProbe(port: number, script: string): Promise<{status: string; details: string; closed: boolean}> {
  const program = `
import json, pickle, socket, ssl, struct
def recv_exact(s, n):
    data = b''
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk: raise ConnectionError('closed early')
        data += chunk
    return data
${script}
s = socket.create_connection(('127.0.0.1', ${port}), timeout=10)
s.sendall(payload)
(size,) = struct.unpack('!I', recv_exact(s, 4))
answer = pickle.loads(recv_exact(s, size))
closed = s.recv(1) == b''
print(json.dumps({'status': answer['STATUS'], 'details': answer['DETAILS'], 'closed': closed}))
`
  // Asynchronously: the server runs in this process.
  const {stdout} = await promisify(execFile)('python3', ['-c', program], {encoding: 'utf8', timeout: 20_000})
  return JSON.parse(stdout) as {
    status: string
    details: string
    closed: boolean
  }
}

describe('iss serve: slots that slow or foreign peers cannot hold', function () {
  this.timeout(120_000)
  let running: RunningServer | null = null
  const sockets: Socket[] = []

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy()
    await running?.stop()
    running = null
  })

  for (const maxConnections of [DEFAULT_MAX_CONNECTIONS, 500]) {
    it(`1,000 half-header connections, then 1,000 idle ones: a new LIST answers within 2 s (max ${maxConnections})`, async () => {
      running = await startServer({maxConnections, headerTimeoutMs: 10_000, idleTimeoutMs: 60_000})
      sockets.push(...(await openSockets(running.port, 1000, Buffer.from([0, 0]))))
      const halfHeader = await timedList(running.port)
      expect(halfHeader.status).to.equal('OK')
      expect(halfHeader.ms).to.be.below(2000)
      for (const socket of sockets.splice(0)) socket.destroy()

      sockets.push(...(await openSockets(running.port, 1000, Buffer.alloc(0))))
      const idle = await timedList(running.port)
      expect(idle.status).to.equal('OK')
      expect(idle.ms).to.be.below(2000)
      expect(running.server.transport.connectionCount).to.be.at.most(maxConnections)
    })
  }

  it('the default --max-connections follows the open-file limit, within its floor and ceiling', () => {
    expect(DEFAULT_MAX_CONNECTIONS).to.be.within(64, 4096)
    expect(DEFAULT_MAX_CONNECTIONS).to.not.equal(256)
  })

  it('a connection that sends part of a frame header and stops is closed after the header timeout', async () => {
    running = await startServer({headerTimeoutMs: 500, idleTimeoutMs: 60_000})
    const client = await RawClient.connect(running.port)
    await client.write(Buffer.from([0, 0]))
    expect(await client.waitClosed(5000)).to.equal(true)
  })

  it('at the limit, connections lingering after a fatal answer make room first', async () => {
    running = await startServer({maxConnections: 10}, {lingerMs: 20_000})
    // Half-open clients that never close: each lingers on the server after its ERROR.
    const lingering = await Promise.all(
      Array.from(
        {length: 10},
        async () =>
          new Promise<Socket>((resolve) => {
            const socket = connect({port: running!.port, host: '127.0.0.1', allowHalfOpen: true}, () => {
              socket.write(Buffer.from('\u0000\u0000\u0000\u0010garbage garbage!', 'latin1'))
              socket.once('data', () => {
                resolve(socket)
              })
            })
            socket.on('error', () => {
              // Evicted: reset.
            })
          }),
      ),
    )
    sockets.push(...lingering)
    const list = await timedList(running.port)
    expect(list.status).to.equal('OK')
    expect(list.ms).to.be.below(2000)
  })

  it('at the limit, the slowest trickling upload makes room for a newcomer', async () => {
    running = await startServer({maxConnections: 12, maxSize: 4 * 1024 * 1024})
    const {head} = encodeStreamingFrame(request('PUT', 'slow.png', null, true), 1024 * 1024, {protocol: 4})
    const trickles = await Promise.all(Array.from({length: 12}, async () => RawClient.connect(running!.port)))
    for (const [i, client] of trickles.entries()) await client.write(Buffer.concat([head, png(8, i)]))
    const timer = setInterval(() => {
      for (const client of trickles) if (!client.closed) void client.write(Buffer.from([0x42]))
    }, 100)
    try {
      // Progress is measured over a second or more of waiting on each peer.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const list = await timedList(running.port)
      expect(list.status).to.equal('OK')
      expect(trickles.filter((client) => client.closed).length).to.be.at.least(1)
    } finally {
      clearInterval(timer)
      for (const client of trickles) client.close()
    }
  })

  it('a request that trickles above the minimum rate is still cut off at the deadline its size allows', async () => {
    running = await startServer({maxSize: 4 * 1024 * 1024, deadlineSlackMs: 1000, minAverageRate: 64 * 1024})
    const client = await RawClient.connect(running.port)
    // 64 KiB at 64 KiB/s + 1 s of slack: 2 s; sent at 10 KiB/s, it would take 6.4 s.
    const {head} = encodeStreamingFrame(request('PUT', 'trickle.png', null, true), 64 * 1024, {protocol: 4})
    await client.write(Buffer.concat([head, png(1024)]))
    const start = performance.now()
    const timer = setInterval(() => {
      if (!client.closed) void client.write(Buffer.alloc(1024, 0x41))
    }, 100)
    try {
      const answer = await client.read(10_000)
      expect(answer.CODE).to.equal('E_TIMEOUT')
      expect(performance.now() - start).to.be.below(5000)
      expect(await client.waitClosed()).to.equal(true)
    } finally {
      clearInterval(timer)
      client.close()
    }
  })

  describe('a connection whose first bytes are another protocol gets one ERROR CPython reads with struct "!I", then a close', () => {
    beforeEach(async () => {
      running = await startServer()
    })

    const probes = {
      HTTP: `payload = b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n'`,
      SSH: `payload = b'SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n'`,
      TLS: `
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname='localhost')
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
payload = outgoing.read()`,
    }
    for (const [protocol, script] of Object.entries(probes)) {
      it(protocol, async () => {
        const answer = await pythonProbe(running!.port, script)
        expect(answer.status).to.equal('ERROR')
        expect(answer.details).to.contain('this port speaks the iss image protocol (4-byte length + pickle)')
        expect(answer.details).to.contain(protocol)
        expect(answer.closed).to.equal(true)
      })
    }

    it('a frame of our protocol still works after all that', async () => {
      const client = await RawClient.connect(running!.port)
      await client.write(encodeFrame(request('LIST'), {protocol: 4, byteOrder: 'little'}))
      expect((await client.read()).STATUS).to.equal('OK')
      client.close()
    })
  })
})
