import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {DEFAULT_PORT} from '../../src/core/config.js'
import {
  BIN,
  cliEnv,
  collect,
  pngBytes,
  removeDir,
  runCli,
  type RunningServer,
  startIssServer,
  tempDir,
} from './cli-harness.js'

/** A loopback port nobody listens on (taken from the OS, then released): a connection there is refused. */
async function deadPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The host:port a failed `iss list --json` says it tried. */
function triedAddress(stdout: string): string {
  const {error} = JSON.parse(stdout) as {error: {message: string}}
  const match = /cannot connect to (\S+?:\d+)/u.exec(error.message)
  expect(match, error.message).to.not.equal(null)
  return match![1]
}

describe('iss config: profiles', function () {
  this.timeout(120_000)
  let work: string
  let configDir: string
  let server: RunningServer

  before(async () => {
    work = tempDir('profiles')
    const storage = path.join(work, 'store')
    mkdirSync(storage)
    writeFileSync(path.join(storage, 'in-store.png'), pngBytes(300))
    server = await startIssServer(storage, ['--log-level', 'warn'])
  })

  beforeEach(() => {
    configDir = path.join(work, `config-${Math.random().toString(36).slice(2)}`)
  })

  after(async () => {
    await server?.stop()
    removeDir(work)
  })

  async function iss(args: string[], env: Record<string, string> = {}) {
    return runCli(args, {env: {ISS_CONFIG_DIR: configDir, ...env}})
  }

  async function set(key: string, value: string, profile?: string) {
    const result = await iss(['config', 'set', key, value, ...(profile === undefined ? [] : ['--profile', profile])])
    expect(result.code, result.stderr).to.equal(0)
  }

  describe('precedence: flag > environment > profile > default', () => {
    // Each source gets its own refused port, so the address the client reports trying names the source that won.
    type Source = 'env' | 'flag' | 'profile'
    const rows: Array<{given: readonly Source[]; wins: 'default' | Source}> = [
      {given: ['flag', 'env', 'profile'], wins: 'flag'},
      {given: ['flag', 'profile'], wins: 'flag'},
      {given: ['flag', 'env'], wins: 'flag'},
      {given: ['env', 'profile'], wins: 'env'},
      {given: ['env'], wins: 'env'},
      {given: ['profile'], wins: 'profile'},
      {given: [], wins: 'default'},
    ]

    for (const {given, wins} of rows) {
      it(`port given by ${given.length > 0 ? given.join(' + ') : 'nothing'}: the ${wins} wins`, async () => {
        const ports = {flag: await deadPort(), env: await deadPort(), profile: await deadPort()}
        // A profile with another key only still exists, so "nothing" means: no port in the profile.
        await set('timeout', '20')
        if (given.includes('profile')) await set('port', String(ports.profile))
        const args = ['list', '--json', ...(given.includes('flag') ? ['--port', String(ports.flag)] : [])]
        const env: Record<string, string> = given.includes('env') ? {ISS_PORT: String(ports.env)} : {}
        const result = await iss(args, env)
        if (wins === 'default' && result.code !== 3) return // something of another user's listens on 9595 here
        const expected = wins === 'default' ? DEFAULT_PORT : ports[wins]
        expect(result.code, result.stdout + result.stderr).to.equal(3)
        expect(triedAddress(result.stdout)).to.equal(`127.0.0.1:${expected}`)
      })
    }

    it('an empty environment variable counts as unset: the profile wins', async () => {
      const port = await deadPort()
      await set('port', String(port))
      const result = await iss(['list', '--json'], {ISS_PORT: ''})
      expect(triedAddress(result.stdout)).to.equal(`127.0.0.1:${port}`)
    })

    it('each key comes from its own source: host from the profile, port from the flag', async () => {
      await set('host', '127.0.0.1')
      await set('port', String(await deadPort()))
      const result = await iss(['list', '--port', String(server.port)])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('in-store.png\n')
    })

    it('the "default" profile applies without --profile, and reaches a live server', async () => {
      await set('port', String(server.port))
      const result = await iss(['list'])
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stdout).to.equal('in-store.png\n')
    })

    it('--profile and ISS_PROFILE pick a profile; --profile beats ISS_PROFILE', async () => {
      const [home, work2] = [await deadPort(), await deadPort()]
      await set('port', String(home), 'home')
      await set('port', String(work2), 'work')
      await set('port', String(await deadPort()))
      expect(triedAddress((await iss(['list', '--json'], {ISS_PROFILE: 'home'})).stdout)).to.equal(`127.0.0.1:${home}`)
      expect(triedAddress((await iss(['list', '--json', '--profile', 'work'], {ISS_PROFILE: 'home'})).stdout)).to.equal(
        `127.0.0.1:${work2}`,
      )
    })

    it('an unknown profile is one line and exit 2, naming the profiles there are', async () => {
      await set('port', '9000', 'home')
      const result = await iss(['list', '--profile', 'hmoe'])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.match(/^iss: no profile "hmoe" in .*config\.json \(profiles: home\)\n$/u)
    })
  })

  describe('iss config set|get|unset|list', () => {
    it('checks values as the flag would, and keys against the base flags', async () => {
      const badPort = await iss(['config', 'set', 'port', '70000'])
      expect(badPort.code).to.equal(2)
      expect(badPort.stderr).to.match(/^iss: port: .*65535/u)
      const badKey = await iss(['config', 'set', 'hots', 'example.net'])
      expect(badKey.code).to.equal(2)
      expect(badKey.stderr).to.match(/^iss: hots: not a profile key; the keys are .*host, port/u)
      expect(readdirSync(work).includes(path.basename(configDir)), 'nothing written for a refused value').to.equal(
        false,
      )
    })

    it('get prints a value, exits 1 for an unset key; unset removes it; list shows every profile', async () => {
      await set('host', 'images.example.net')
      await set('port', '9696', 'work')
      expect((await iss(['config', 'get', 'host'])).stdout).to.equal('images.example.net\n')
      expect((await iss(['config', 'get', 'port'], {ISS_PROFILE: 'work'})).stdout).to.equal('9696\n')
      const missing = await iss(['config', 'get', 'port'])
      expect(missing.code).to.equal(1)
      expect(missing.stdout).to.equal('')
      expect((await iss(['config', 'list'])).stdout).to.equal('default.host=images.example.net\nwork.port=9696\n')
      expect((await iss(['config', 'unset', 'port', '--profile', 'work'])).code).to.equal(0)
      const listed = JSON.parse((await iss(['config', 'list', '--json'])).stdout) as {profiles: unknown}
      expect(listed.profiles).to.deep.equal({default: {host: 'images.example.net'}})
    })

    it('writes the config file owner-only (0600, folder 0700) whatever the umask, atomically', async () => {
      // Under umask 000 a plain write would make the file 0666.
      const child = spawn(
        '/bin/sh',
        ['-c', 'umask 000; exec "$0" "$@"', process.execPath, BIN, 'config', 'set', 'host', 'h1'],
        {
          env: cliEnv({ISS_CONFIG_DIR: configDir}),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      const result = await collect(child, 30_000)
      expect(result.code, result.stderr).to.equal(0)
      const file = path.join(configDir, 'config.json')
      expect(statSync(file).mode & 0o777).to.equal(0o600)
      expect(statSync(configDir).mode & 0o777).to.equal(0o700)
      // A file someone opened up is owner-only again after the next write; no temporary file is left beside it.
      chmodSync(file, 0o644)
      await set('port', '9000')
      expect(statSync(file).mode & 0o777).to.equal(0o600)
      expect(readdirSync(configDir)).to.deep.equal(['config.json'])
      expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal({profiles: {default: {host: 'h1', port: '9000'}}})
    })

    it('a config file that is not JSON is one line and exit 2 for every client command', async () => {
      mkdirSync(configDir)
      writeFileSync(path.join(configDir, 'config.json'), '{"profiles": {')
      const result = await iss(['list'])
      expect(result.code).to.equal(2)
      expect(result.stderr).to.match(/^iss: .*config\.json: not valid JSON; fix it or remove it/u)
    })
  })
})
