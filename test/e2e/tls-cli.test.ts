import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {copyFileSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {makeCaSigned, makeSelfSignedFiles} from '../support/tls-certs.js'
import {
  BIN,
  cliEnv,
  jpegBytes,
  pngBytes,
  removeDir,
  ROOT,
  runCli,
  spawnCli,
  startIssServer,
  tempDir,
} from './cli-harness.js'

const DELETE_PLUGIN = path.join(ROOT, 'plugins', 'iss-plugin-delete')

/** Data, config and cache folders of one iss installation (a client's or a server's). */
function installation(dir: string): Record<string, string> {
  return {
    ISS_DATA_DIR: path.join(dir, 'data'),
    ISS_CONFIG_DIR: path.join(dir, 'config'),
    ISS_CACHE_DIR: path.join(dir, 'cache'),
  }
}

interface TlsServe {
  port: number
  /** The SHA-256 fingerprint `iss serve` printed at start. */
  fingerprint: string
  output: string[]
  stop(): Promise<void>
}

/** `iss serve` with TLS flags from the built CLI, on 127.0.0.1 port 0; resolves once it printed its fingerprint and port. */
async function serveTls(env: Record<string, string>, storage: string, args: string[]): Promise<TlsServe> {
  const child = spawnCli(['serve', '--port', '0', '--storage', storage, '--log-level', 'warn', ...args], {env})
  const output: string[] = []
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const found = await new Promise<{port: number; fingerprint: string}>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iss serve did not start; stderr: ${stderr}`)), 30_000)
    let port = 0
    readline.createInterface({input: child.stdout!}).on('line', (line) => {
      output.push(line)
      port ||= Number(/listening on .*:(\d+)$/.exec(line)?.[1] ?? 0)
      const fingerprint = /^tls: SHA-256 fingerprint ([\dA-F:]{95})$/.exec(line)?.[1]
      if (fingerprint !== undefined) {
        clearTimeout(timer)
        resolve({port, fingerprint})
      }
    })
    child.once('exit', (code) => reject(new Error(`iss serve exited ${code}: ${stderr}`)))
  })
  return {
    ...found,
    output,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * Runs the CLI on a real pseudo-terminal (python3's pty module), answering `answer` once when it asks
 * "(yes/no)". Returns what the terminal showed and the exit code.
 */
async function onTerminal(
  args: string[],
  env: Record<string, string>,
  answer: string,
): Promise<{output: string; code: number}> {
  const driver = `
import json, os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, answered, deadline = b'', False, time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.2)
    if fd in ready:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if not answered and b'(yes/no)' in out:
            os.write(fd, sys.stdin.readline().encode())
            answered = True
_, status = os.waitpid(pid, 0)
print(json.dumps({'output': out.decode('utf-8', 'replace'), 'code': os.waitstatus_to_exitcode(status)}))
`
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', driver, process.execPath, BIN, ...args], {cwd: ROOT, env: cliEnv(env)})
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text))
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    child.once('exit', () => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(stdout) as {output: string; code: number})
      } catch {
        reject(new Error(`pty driver failed: ${stderr}${stdout}`))
      }
    })
    child.stdin.end(answer + '\n')
  })
}

describe('iss over TLS (the built CLI, real TLS over loopback)', function () {
  this.timeout(240_000)
  let work: string

  beforeEach(() => {
    work = tempDir('tls-cli')
  })

  afterEach(() => removeDir(work))

  it('serve --tls prints its fingerprint; put, get, list and the delete plugin work with --fingerprint', async () => {
    const serverEnv = installation(path.join(work, 'server'))
    const client = installation(path.join(work, 'client'))
    for (const env of [serverEnv, client]) {
      const link = await runCli(['plugins', 'link', '--no-install', DELETE_PLUGIN], {env, timeoutMs: 60_000})
      expect(link.code, link.stderr).to.equal(0)
    }
    const server = await serveTls(serverEnv, path.join(work, 'store'), ['--tls'])
    try {
      expect(server.output).to.include('serves DELETE (plugin iss-plugin-delete)')
      // Any case, with or without colons.
      const pin = ['--fingerprint', server.fingerprint.replaceAll(':', '').toLowerCase()]
      const port = ['-p', String(server.port)]
      const image = path.join(work, 'Sunset.png')
      writeFileSync(image, pngBytes(200_000))
      const put = await runCli(['put', image, ...port, ...pin], {env: client})
      expect(put.code, put.stderr).to.equal(0)
      const list = await runCli(['list', ...port, ...pin], {env: client})
      expect([list.code, list.stdout]).to.deep.equal([0, 'Sunset.png\n'])
      const target = path.join(work, 'copy.png')
      const get = await runCli(['get', 'Sunset.png', '-o', target, ...port, '--fingerprint', server.fingerprint], {
        env: client,
      })
      expect(get.code, get.stderr).to.equal(0)
      expect(readFileSync(target).equals(readFileSync(image))).to.equal(true)
      const deleted = await runCli(['delete', 'sunset.png', ...port], {
        env: {...client, ISS_FINGERPRINT: server.fingerprint},
      })
      expect(deleted.code, deleted.stderr).to.equal(0)
      const empty = await runCli(['list', ...port, ...pin, '--json'], {env: client})
      expect(empty.code, empty.stderr).to.equal(0)
      expect(empty.stdout).to.not.contain('Sunset.png')

      // The certificate is made once and reused by a restarted server.
      await server.stop()
      const again = await serveTls(serverEnv, path.join(work, 'store'), ['--tls'])
      await again.stop()
      expect(again.fingerprint).to.equal(server.fingerprint)
    } finally {
      await server.stop()
    }
  })

  it('with a CA-signed certificate (ISS_SERVE_TLS_CERT/KEY), clients trust it with --ca or ISS_CA by host name', async () => {
    const pair = makeCaSigned(work)
    const served = await serveTls(
      {...installation(path.join(work, 'server')), ISS_SERVE_TLS_CERT: pair.certFile, ISS_SERVE_TLS_KEY: pair.keyFile},
      path.join(work, 'store'),
      [],
    )
    try {
      expect(served.fingerprint).to.equal(pair.fingerprint)
      const client = installation(path.join(work, 'client'))
      const at = ['-H', 'localhost', '-p', String(served.port)]
      const image = path.join(work, 'cat.jpg')
      writeFileSync(image, jpegBytes(5000))
      const put = await runCli(['put', image, ...at, '--ca', pair.caFile], {env: client})
      expect(put.code, put.stderr).to.equal(0)
      const list = await runCli(['list', ...at], {env: {...client, ISS_CA: pair.caFile}})
      expect([list.code, list.stdout, list.stderr]).to.deep.equal([0, 'cat.jpg\n', ''])
      const get = await runCli(['get', 'cat.jpg', '-o', path.join(work, 'back.jpg'), ...at, '--ca', pair.caFile], {
        env: client,
      })
      expect(get.code, get.stderr).to.equal(0)

      // Another CA's trust is not enough, and the line says why.
      const other = makeCaSigned(work, ['localhost'], 'other')
      const refused = await runCli(['list', ...at, '--ca', other.caFile], {env: client})
      expect(refused.code).to.equal(3)
      expect(refused.stderr.trim().split('\n')).to.have.length(1)
      expect(refused.stderr).to.contain('not trusted with --ca')
    } finally {
      await served.stop()
    }
  })

  it('without a terminal, an unknown certificate is refused in one line with its fingerprint and the flag to pin it', async () => {
    const server = await serveTls(installation(path.join(work, 'server')), path.join(work, 'store'), ['--tls'])
    try {
      const client = installation(path.join(work, 'client'))
      const result = await runCli(['list', '--tls', '-p', String(server.port)], {env: client})
      expect(result.code).to.equal(3)
      expect(result.stdout).to.equal('')
      const lines = result.stderr.trim().split('\n')
      expect(lines).to.have.length(1)
      expect(lines[0]).to.contain(server.fingerprint)
      expect(lines[0]).to.contain(`--fingerprint ${server.fingerprint}`)
    } finally {
      await server.stop()
    }
  })

  it('on a terminal: shows the fingerprint, asks once, remembers; a changed certificate is then refused loudly', async () => {
    const first = await makeSelfSignedFiles(work, ['localhost', '127.0.0.1'], 'first')
    const second = await makeSelfSignedFiles(work, ['localhost', '127.0.0.1'], 'second')
    const live = {cert: path.join(work, 'live-cert.pem'), key: path.join(work, 'live-key.pem')}
    copyFileSync(first.certFile, live.cert)
    copyFileSync(first.keyFile, live.key)
    const server = await serveTls(installation(path.join(work, 'server')), path.join(work, 'store'), [
      '--tls-cert',
      live.cert,
      '--tls-key',
      live.key,
    ])
    try {
      const client = installation(path.join(work, 'client'))
      const args = ['list', '--tls', '-p', String(server.port)]
      const declined = await onTerminal(args, client, 'no')
      expect(declined.output).to.contain(first.fingerprint)
      expect(declined.code).to.equal(3)

      const accepted = await onTerminal(args, client, 'yes')
      expect(accepted.output).to.contain(first.fingerprint)
      expect(accepted.output).to.contain('(yes/no)')
      expect(accepted.output).to.contain('No files on server')
      expect(accepted.code).to.equal(0)
      const known = readFileSync(path.join(client.ISS_CONFIG_DIR, 'known_servers'), 'utf8')
      expect(known).to.contain(`127.0.0.1:${server.port} ${first.fingerprint}`)

      // Remembered: no question, even without a terminal.
      const quiet = await runCli(args, {env: client})
      expect([quiet.code, quiet.stderr]).to.deep.equal([0, ''])

      // The server's certificate changes under the same host:port.
      copyFileSync(second.keyFile, `${live.key}.new`)
      renameSync(`${live.key}.new`, live.key)
      copyFileSync(second.certFile, `${live.cert}.new`)
      renameSync(`${live.cert}.new`, live.cert)
      let changed = await runCli(args, {env: client})
      for (let tries = 0; tries < 20 && changed.code === 0; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 250))
        changed = await runCli(args, {env: client})
      }
      expect(changed.code).to.equal(3)
      const lines = changed.stderr.trim().split('\n')
      expect(lines).to.have.length(1)
      expect(lines[0]).to.contain('HAS CHANGED')
      expect(lines[0]).to.contain(first.fingerprint)
      expect(lines[0]).to.contain(second.fingerprint)

      // Not silently re-trusted on a terminal either: no question is asked.
      const asked = await onTerminal(args, client, 'yes')
      expect(asked.output).to.not.contain('(yes/no)')
      expect(asked.code).to.equal(3)
      expect(readFileSync(path.join(client.ISS_CONFIG_DIR, 'known_servers'), 'utf8')).to.equal(known)
    } finally {
      await server.stop()
    }
  })

  it('a plain client on a TLS port and a TLS client on a plain port each get one clear line', async () => {
    const tlsServer = await serveTls(installation(path.join(work, 'server')), path.join(work, 'store'), ['--tls'])
    const plain = await startIssServer(path.join(work, 'plain-store'))
    try {
      const client = installation(path.join(work, 'client'))
      const clear = await runCli(['list', '-p', String(tlsServer.port)], {env: client, timeoutMs: 20_000})
      // A connection problem (exit 3) like the other way round, not a server's refusal of an item (exit 1).
      expect(clear.code).to.equal(3)
      expect(clear.stderr.trim().split('\n')).to.have.length(1)
      expect(clear.stderr).to.contain('inside TLS')

      const wrapped = await runCli(['list', '--tls', '-p', String(plain.port)], {env: client, timeoutMs: 20_000})
      expect(wrapped.code).to.equal(3)
      expect(wrapped.stderr.trim().split('\n')).to.have.length(1)
      expect(wrapped.stderr).to.contain('does not speak TLS')
    } finally {
      await tlsServer.stop()
      await plain.stop()
    }
  })
})
