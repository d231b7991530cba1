// `iss token create|list|revoke` as a person runs them, and `iss serve` and the clients using what they make.
import {expect} from 'chai'
import {mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {collect, pngBytes, removeDir, runCli, spawnCli, startIssServer, tempDir} from './cli-harness.js'

const TOKEN_TEXT = /^iss_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/

describe('iss token and --token, end to end', function () {
  this.timeout(120_000)
  let dir: string
  let tokens: string

  beforeEach(() => {
    dir = tempDir('iss-token-')
    tokens = path.join(dir, 'conf', 'tokens.json')
  })

  afterEach(() => {
    removeDir(dir)
  })

  it('create prints the secret once, alone on stdout; the file is owner-only and holds no secret', async () => {
    const created = await runCli([
      'token',
      'create',
      'laptop',
      '--scope',
      'write',
      '--expires',
      '30d',
      '--tokens',
      tokens,
    ])
    expect(created.code).to.equal(0)
    expect(created.stdout.endsWith('\n')).to.equal(true)
    const secret = created.stdout.trimEnd()
    expect(secret).to.match(TOKEN_TEXT)
    expect(created.stderr).to.include("created token 'laptop'")
    expect(created.stderr).to.not.include(secret)
    expect(statSync(tokens).mode & 0o777).to.equal(0o600)
    const file = readFileSync(tokens, 'utf8')
    expect(file).to.not.include(secret.slice(-43))

    const listed = await runCli(['token', 'list', '--json', '--tokens', tokens])
    expect(listed.code).to.equal(0)
    const entries = JSON.parse(listed.stdout) as Array<Record<string, unknown>>
    expect(entries.map((e) => [e.name, e.scope, e.expired, e.lastUsed])).to.deep.equal([
      ['laptop', 'write', false, null],
    ])
    const lifetime = Date.parse(entries[0].expires as string) - Date.parse(entries[0].created as string)
    expect(Math.round(lifetime / 86_400_000)).to.equal(30)
    expect(listed.stdout).to.not.include(secret.slice(-43))

    const table = await runCli(['token', 'list', '--tokens', tokens])
    expect(table.stdout).to.match(/^NAME\s+SCOPE\s+CREATED\s+EXPIRES\s+LAST USED\nlaptop\s+write\s/)

    const twice = await runCli(['token', 'create', 'laptop', '--scope', 'read', '--tokens', tokens])
    expect([twice.code, twice.stdout]).to.deep.equal([2, ''])
    expect(twice.stderr.trim().split('\n')).to.have.length(1)
  })

  it('revoke removes the token; revoking an unknown name is one line and exit 2', async () => {
    await runCli(['token', 'create', 'ci', '--scope', 'read', '--tokens', tokens])
    const revoked = await runCli(['token', 'revoke', 'ci', '--tokens', tokens])
    expect(revoked.code).to.equal(0)
    expect(JSON.parse((await runCli(['token', 'list', '--json', '--tokens', tokens])).stdout)).to.deep.equal([])
    const again = await runCli(['token', 'revoke', 'ci', '--tokens', tokens])
    expect(again.code).to.equal(2)
    expect(again.stderr).to.match(/^iss token: no token named 'ci'/)
  })

  it('a bad name, scope or lifetime is refused with exit 2 and nothing on stdout', async () => {
    for (const args of [
      ['bad name', '--scope', 'read'],
      ['ok', '--scope', 'root'],
      ['ok', '--scope', 'read', '--expires', 'soon'],
    ]) {
      const result = await runCli(['token', 'create', ...args, '--tokens', tokens])
      expect([result.code, result.stdout], args.join(' ')).to.deep.equal([2, ''])
    }
  })

  it('the token commands and iss serve share the default tokens file in the data directory', async () => {
    const env = {ISS_DATA_DIR: path.join(dir, 'data')}
    const secret = (await runCli(['token', 'create', 'box', '--scope', 'write'], {env})).stdout.trim()
    expect(statSync(path.join(dir, 'data', 'tokens.json')).mode & 0o777).to.equal(0o600)
    const server = spawnCli(['serve', '--port', '0', '--storage', path.join(dir, 'store')], {env})
    try {
      let out = ''
      server.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
      const deadline = Date.now() + 20_000
      while (!/listening on .*:(\d+)/.test(out) || !out.includes('access:')) {
        if (Date.now() > deadline) throw new Error(`no start: ${out}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }

      expect(out).to.match(/access: 1 token\(s\) in .*tokens\.json; without a token: read/)
      const port = /listening on .*:(\d+)/.exec(out)![1]
      const image = path.join(dir, 'a.png')
      writeFileSync(image, pngBytes(800))
      const refused = await runCli(['put', image, '-p', port])
      expect(refused.code).to.equal(1)
      expect(refused.stderr).to.include('Unauthorized')
      const stored = await runCli(['put', image, '-p', port], {env: {ISS_TOKEN: secret}})
      expect(stored.code, stored.stderr).to.equal(0)
    } finally {
      server.kill('SIGTERM')
      await collect(server, 10_000)
    }

    // "last used" is written when the server stops (and at most once a minute while it runs).
    const listed = JSON.parse((await runCli(['token', 'list', '--json'], {env})).stdout) as Array<{lastUsed: unknown}>
    expect(listed[0].lastUsed).to.be.a('string')
  })

  it('serve refuses an address other than loopback with no tokens and no --anonymous: one line, exit 2', async () => {
    const child = spawnCli([
      'serve',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--storage',
      path.join(dir, 's'),
      '--tokens',
      tokens,
    ])
    const result = await collect(child, 20_000)
    expect(result.code).to.equal(2)
    expect(result.stderr.trim().split('\n')).to.have.length(1)
    expect(result.stderr).to.match(/no tokens and no --anonymous/)
  })

  it('put, get and list send --token (or ISS_TOKEN), and each is answered by its scope', async () => {
    const reader = (await runCli(['token', 'create', 'r', '--scope', 'read', '--tokens', tokens])).stdout.trim()
    const writer = (await runCli(['token', 'create', 'w', '--scope', 'write', '--tokens', tokens])).stdout.trim()
    const server = await startIssServer(path.join(dir, 'store'), ['--tokens', tokens, '--anonymous', 'none'])
    try {
      const port = String(server.port)
      const image = path.join(dir, 'cat.png')
      const bytes = pngBytes(900)
      writeFileSync(image, bytes)
      expect((await runCli(['put', image, '-p', port, '--token', reader])).code).to.equal(1)
      expect((await runCli(['put', image, '-p', port, '--token', writer])).code).to.equal(0)
      const listed = await runCli(['list', '-p', port, '--json'], {env: {ISS_TOKEN: reader}})
      expect(JSON.parse(listed.stdout).names).to.deep.equal(['cat.png'])
      const anonymous = await runCli(['list', '-p', port])
      expect(anonymous.code).to.equal(1)
      const fetched = await runCli(['get', 'cat.png', '-p', port, '--token', reader, '-o', path.join(dir, 'out.png')])
      expect(fetched.code, fetched.stderr).to.equal(0)
      expect(readFileSync(path.join(dir, 'out.png')).equals(bytes)).to.equal(true)
    } finally {
      await server.stop()
    }
  })

  it('a batch whose token is refused stops at the first refusal: one error, the rest not sent, one line saying so', async () => {
    await runCli(['token', 'create', 'w', '--scope', 'write', '--tokens', tokens])
    const server = await startIssServer(path.join(dir, 'store'), ['--tokens', tokens, '--anonymous', 'none'])
    try {
      const folder = path.join(dir, 'batch')
      mkdirSync(folder)
      for (let i = 0; i < 6; i++) writeFileSync(path.join(folder, `img-${i}.png`), pngBytes(500 + i))
      const wrong = `iss_${'0'.repeat(16)}_${'A'.repeat(43)}`
      const port = String(server.port)
      for (const lanes of ['1', '3']) {
        const human = await runCli(['put', folder, '-p', port, '--token', wrong, '--parallel', lanes])
        expect(human.code, human.stderr).to.equal(1)
        expect(human.stderr).to.match(/more items were not sent, as the server refused access \(E_UNAUTHORIZED\)/)
        const json = await runCli(['put', folder, '-p', port, '--token', wrong, '--parallel', lanes, '--json'])
        const {results} = JSON.parse(json.stdout) as {results: Array<{status: string; code: string | null}>}
        const refused = results.filter((r) => r.status === 'error')
        expect(refused.length, `${lanes} lanes`).to.be.within(1, Number(lanes))
        expect(refused.every((r) => r.code === 'E_UNAUTHORIZED')).to.equal(true)
        expect(results.filter((r) => r.status === 'skipped')).to.have.length(6 - refused.length)
      }
      const listed = await runCli(['list', '-p', port, '--token', wrong])
      expect(listed.code).to.equal(1)
    } finally {
      await server.stop()
    }
  })
})
