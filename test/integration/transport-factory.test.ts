import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import type {Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {createIssServer} from '../../src/core/server-app.js'
import {
  type ClientSocketFactory,
  type ServerSocketFactory,
  tcpClientFactory,
  tcpServerFactory,
} from '../../src/core/transport/socket-factory.js'
import {ClientConnection} from '../../src/core/transport/client-connection.js'
import {corePlugin, loadModule, png, REPO_ROOT, request, testConfig} from './server-harness.js'

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

describe('transport: sockets come from one factory per side', function () {
  this.timeout(30_000)

  it('a server and its clients built on counting factories open every socket through them', async () => {
    const accepted: Socket[] = []
    let servers = 0
    const serverFactory: ServerSocketFactory = {
      createServer(onSocket) {
        servers++
        return tcpServerFactory.createServer((socket) => {
          accepted.push(socket)
          onSocket(socket)
        })
      },
    }
    let connects = 0
    const clientFactory: ClientSocketFactory = {
      connect(options) {
        connects++
        return tcpClientFactory.connect(options)
      },
    }
    const storage = mkdtempSync(join(tmpdir(), 'iss-factory-'))
    const server = await createIssServer({
      config: testConfig(storage),
      plugins: [corePlugin()],
      load: loadModule,
      socketFactory: serverFactory,
    })
    try {
      const {port} = await server.listen()
      for (let i = 0; i < 3; i++) {
        const client = await ClientConnection.connect({
          host: '127.0.0.1',
          port,
          socketFactory: clientFactory,
          timeoutMs: 5000,
          byteOrder: 'big',
          maxSize: 1024 * 1024,
        })
        const put = await client.request(request('PUT', `f${i}.png`, png(500, i), true))
        expect(put.STATUS).to.equal('OK')
        expect((await client.request(request('LIST', null, null, true))).DETAILS).to.have.length(i + 1)
        client.close()
      }

      expect(servers).to.equal(1)
      expect(connects).to.equal(3)
      expect(accepted).to.have.length(3)
    } finally {
      await server.close()
      rmSync(storage, {recursive: true, force: true})
    }
  })

  it('no module in src/ but the factory creates a listening socket or opens a connection', () => {
    const opening =
      /\b(?:net|tls)\.(?:createServer|connect)\(|import\s*{[^}]*\b(?:createServer|connect)\b[^}]*}\s*from\s*'node:(?:net|tls)'/
    const offenders = sources(join(REPO_ROOT, 'src'))
      .filter((path) => !path.endsWith(join('transport', 'socket-factory.ts')))
      .filter((path) => opening.test(readFileSync(path, 'utf8')))
    expect(offenders).to.deep.equal([])
    expect(
      opening.test(readFileSync(join(REPO_ROOT, 'src', 'core', 'transport', 'socket-factory.ts'), 'utf8')),
    ).to.equal(true)
  })
})
