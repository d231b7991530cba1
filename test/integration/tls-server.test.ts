import {expect} from 'chai'
import {createHash, X509Certificate} from 'node:crypto'
import {copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import * as tls from 'node:tls'

import {isTlsTrustError} from '../../src/core/errors.js'
import {silentLogger} from '../../src/core/logger.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {connectTls} from '../../src/core/tls/client-trust.js'
import {fingerprintOf} from '../../src/core/tls/fingerprint.js'
import {ensureSelfSigned} from '../../src/core/tls/self-signed.js'
import {setUpServeTls, type ServeTls} from '../../src/core/tls/serve-tls.js'
import {runSeedClient} from '../support/seed-client.js'
import {certDir, makeCaSigned, makeSelfSignedFiles} from '../support/tls-certs.js'
import {corePlugin, eventually, loadModule, png, request, startServer, testConfig} from './server-harness.js'

interface TlsServer {
  readonly server: IssServer
  readonly tls: ServeTls
  readonly port: number
  stop(): Promise<void>
}

/** `iss serve --tls-cert FILE --tls-key FILE`, in this process, on a free port. */
async function startTlsServer(files: {certFile: string; keyFile: string}): Promise<TlsServer> {
  const storage = mkdtempSync(join(tmpdir(), 'iss-tls-store-'))
  const config = testConfig(storage)
  const serveTls = await setUpServeTls(
    {'tls-cert': files.certFile, 'tls-key': files.keyFile},
    {dataDir: storage, host: '127.0.0.1', logger: silentLogger(), maxSize: config.maxSize},
  )
  const server = await createIssServer({
    config,
    plugins: [corePlugin()],
    load: loadModule,
    lingerMs: 2000,
    socketFactory: serveTls!.socketFactory,
  })
  const {port} = await server.listen()
  return {
    server,
    tls: serveTls!,
    port,
    async stop() {
      serveTls!.close()
      await server.close()
      rmSync(storage, {recursive: true, force: true})
    },
  }
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served. */
async function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({host: '127.0.0.1', port, rejectUnauthorized: false}, () => {
      resolve(fingerprintOf(socket.getPeerCertificate().raw))
      socket.destroy()
    })
    socket.setTimeout(5000, () => socket.destroy(new Error('no TLS handshake in 5 s')))
    socket.once('error', reject)
  })
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** Replaces a file as renewal tools do: written beside it, then renamed over it. */
function replaceFile(from: string, to: string): void {
  copyFileSync(from, `${to}.new`)
  renameSync(`${to}.new`, to)
}

describe('TLS on the server (real TLS over loopback)', function () {
  this.timeout(60_000)
  let dir: string

  beforeEach(() => {
    dir = certDir()
  })

  afterEach(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  it('serves PUT, GET and LIST to a CPython seed client using ssl.create_default_context(cafile=CA) (CA-signed)', async () => {
    const pair = makeCaSigned(dir)
    const server = await startTlsServer(pair)
    try {
      const image = png(40_000, 7)
      const lines = await runSeedClient(
        server.port,
        [{op: 'PUT', name: 'tls.png', data_hex: image.toString('hex')}, {op: 'GET', name: 'tls.png'}, {op: 'LIST'}],
        ['--tls-ca', pair.caFile, '--host', 'localhost'],
      )
      expect(lines.map((line) => line.STATUS)).to.deep.equal(['OK', 'OK', 'OK'])
      expect(lines[1].sha256).to.equal(sha256(image))
      expect(lines[2].DETAILS).to.deep.equal(['tls.png'])
    } finally {
      await server.stop()
    }
  })

  it('serves a CPython seed client that trusts the self-signed certificate itself (cafile=cert), by IP address', async () => {
    const pair = await makeSelfSignedFiles(dir)
    const server = await startTlsServer(pair)
    try {
      const lines = await runSeedClient(
        server.port,
        [{op: 'PUT', name: 'self.png', data_hex: png(3000, 2).toString('hex')}, {op: 'LIST'}],
        ['--tls-ca', pair.certFile],
      )
      expect(lines.map((line) => line.STATUS)).to.deep.equal(['OK', 'OK'])
      expect(lines[1].DETAILS).to.deep.equal(['self.png'])
    } finally {
      await server.stop()
    }
  })

  it('answers a clear-text seed client on the TLS port with one ERROR naming TLS (five seed keys), then closes', async () => {
    const server = await startTlsServer(makeCaSigned(dir))
    try {
      for (const endian of ['big', 'little']) {
        const started = Date.now()
        const [line] = await runSeedClient(
          server.port,
          [{op: 'PUT', name: 'plain.png', data_hex: png(2000, 1).toString('hex')}],
          ['--endian', endian],
        )
        expect(line.STATUS).to.equal('ERROR')
        expect(line.keys).to.deep.equal(['COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'FILE_DATA'])
        expect(line.DETAILS).to.match(/inside TLS/)
        expect(Date.now() - started, 'no hang').to.be.below(20_000)
      }
      const list = await connectTls(
        {fingerprint: await servedFingerprint(server.port)},
        dir,
        clientOptions(server.port),
      )
      try {
        expect((await list.request(request('LIST', null, null, true))).DETAILS, 'nothing was stored').to.be.a('string')
      } finally {
        list.close()
      }
    } finally {
      await server.stop()
    }
  })

  it('a TLS client on a plain port fails at once with one line saying the port does not speak TLS', async () => {
    const plain = await startServer()
    try {
      const started = Date.now()
      const failure: unknown = await connectTls({tls: true}, dir, clientOptions(plain.port))
        .then(() => null)
        .catch((error: unknown) => error)
      expect(isTlsTrustError(failure), String(failure)).to.equal(true)
      expect((failure as Error).message).to.match(/does not speak TLS/)
      expect((failure as Error).message).to.not.contain('\n')
      expect(Date.now() - started).to.be.below(10_000)
    } finally {
      await plain.stop()
    }
  })

  it('reloads a replaced certificate: new connections get the new one, an open connection goes on', async () => {
    const first = makeCaSigned(dir, ['localhost', '127.0.0.1'], 'first')
    const second = makeCaSigned(dir, ['localhost', '127.0.0.1'], 'second')
    const live = {certFile: join(dir, 'live-cert.pem'), keyFile: join(dir, 'live-key.pem')}
    copyFileSync(first.certFile, live.certFile)
    copyFileSync(first.keyFile, live.keyFile)
    const server = await startTlsServer(live)
    try {
      const open = await connectTls({ca: first.caFile}, dir, clientOptions(server.port))
      try {
        expect((await open.request(request('PUT', 'before.png', png(1000, 3), true))).STATUS).to.equal('OK')
        // Key first, then certificate, as a renewal does; in between the pair does not match and is not taken.
        replaceFile(second.keyFile, live.keyFile)
        replaceFile(second.certFile, live.certFile)
        const switched = await eventually(
          async () => (await servedFingerprint(server.port)) === second.fingerprint,
          10_000,
        )
        expect(switched, 'new connections get the new certificate').to.equal(true)
        expect(server.tls.credentials.fingerprint).to.equal(second.fingerprint)

        const after = await open.request(request('LIST', null, null, true))
        expect(after.STATUS, 'the open connection goes on').to.equal('OK')
        expect(after.DETAILS).to.deep.equal(['before.png'])

        const fresh = await connectTls({ca: second.caFile}, dir, clientOptions(server.port))
        expect((await fresh.request(request('GET', 'before.png', null, true))).STATUS).to.equal('OK')
        fresh.close()
      } finally {
        open.close()
      }
    } finally {
      await server.stop()
    }
  })

  it('keeps the certificate in force when the new files do not make a pair', async () => {
    const first = makeCaSigned(dir, ['localhost', '127.0.0.1'], 'first')
    const other = makeCaSigned(dir, ['localhost', '127.0.0.1'], 'other')
    const live = {certFile: join(dir, 'live-cert.pem'), keyFile: join(dir, 'live-key.pem')}
    copyFileSync(first.certFile, live.certFile)
    copyFileSync(first.keyFile, live.keyFile)
    const server = await startTlsServer(live)
    try {
      replaceFile(other.certFile, live.certFile)
      const outcome = await server.tls.credentials.reload()
      expect(outcome.ok).to.equal(false)
      expect(outcome.ok ? '' : outcome.error.message).to.match(/does not belong to the certificate/)
      expect(await servedFingerprint(server.port)).to.equal(first.fingerprint)
    } finally {
      await server.stop()
    }
  })

  it('--tls alone makes a self-signed certificate once: key owner-only, names from --host and the machine, reused', async () => {
    const made = await ensureSelfSigned(dir, 'images.example')
    expect(made.created).to.equal(true)
    expect(statSync(made.keyFile).mode & 0o777).to.equal(0o600)
    const certificate = new X509Certificate(readFileSync(made.certFile))
    expect(certificate.subject).to.equal('CN=images.example')
    for (const name of ['DNS:images.example', `DNS:${hostname()}`, 'DNS:localhost', 'IP Address:127.0.0.1']) {
      expect(certificate.subjectAltName).to.contain(name)
    }
    expect(
      certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(made.keyFile))),
    ).to.equal(true)

    const again = await ensureSelfSigned(dir, 'other.example')
    expect(again.created).to.equal(false)
    expect(again.cert).to.equal(made.cert)
  })
})

function clientOptions(port: number) {
  return {host: '127.0.0.1', port, timeoutMs: 10_000, byteOrder: 'big' as const, maxSize: 1024 * 1024}
}
