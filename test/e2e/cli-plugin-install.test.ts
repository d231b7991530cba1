import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {removeDir, ROOT, runCli, tempDir} from './cli-harness.js'

const DELETE_PLUGIN = path.join(ROOT, 'plugins', 'iss-plugin-delete')

/** An isolated iss installation: its own data, config and cache directories. */
function installation(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ISS_DATA_DIR: path.join(dir, 'data'),
    ISS_CONFIG_DIR: path.join(dir, 'config'),
    ISS_CACHE_DIR: path.join(dir, 'cache'),
    ...extra,
  }
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0)
}

/** A plugin folder written in plain JavaScript, with the given command files (id -> source). */
function writePlugin(dir: string, name: string, commands: Record<string, string>): string {
  const root = path.join(dir, name)
  mkdirSync(path.join(root, 'commands'), {recursive: true})
  writeFileSync(
    path.join(root, 'package.json'),
    JSON.stringify({name, version: '1.0.0', keywords: ['oclif-plugin'], oclif: {commands: './commands'}}),
  )
  // A tsconfig.json makes oclif look for TypeScript in a linked plugin; it must not say so on every command.
  writeFileSync(path.join(root, 'tsconfig.json'), '{"compilerOptions": {"outDir": "dist"}}')
  for (const [id, source] of Object.entries(commands)) writeFileSync(path.join(root, 'commands', `${id}.js`), source)
  return root
}

const WORKING_COMMAND = `const {ProtocolCommand} = require('image-sharing-service')
module.exports = class extends ProtocolCommand {
  static description = 'A plugin command.'
  async run() { this.log('plugin ran') }
}
`

describe('plugin installation and broken plugins (issue 11 items 3-6)', function () {
  this.timeout(120_000)
  let dir: string

  beforeEach(() => {
    dir = tempDir('plugin-install')
  })

  afterEach(() => removeDir(dir))

  it('item 3: a local path that does not exist is refused in one line with the command that works (exit 2)', async () => {
    const result = await runCli(['plugins', 'install', './no-such-plugin'], {env: installation(dir)})
    expect(result.code).to.equal(2)
    expect(lines(result.stderr)).to.deep.equal([
      'iss: ./no-such-plugin: no such file or folder. Install a plugin from a folder or a .tgz made by `npm pack` ' +
        'that exists (from an iss checkout: iss plugins install ./plugins/iss-plugin-delete), or by its name from ' +
        'the registry',
    ])
    expect(result.stderr).to.not.contain('github.com')
  })

  it('item 3: installs iss-plugin-delete from its folder and from a packed .tgz', async () => {
    const fromFolder = installation(path.join(dir, 'folder'))
    const folder = await runCli(['plugins', 'install', path.relative(ROOT, DELETE_PLUGIN)], {
      env: fromFolder,
      timeoutMs: 90_000,
    })
    expect(folder.code, folder.stderr).to.equal(0)
    expect((await runCli(['--help'], {env: fromFolder})).stdout).to.match(/^\s+delete\s/m)

    const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', dir], {
      cwd: DELETE_PLUGIN,
      encoding: 'utf8',
    })
    expect(packed.status, packed.stderr).to.equal(0)
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))!
    const fromTarball = installation(path.join(dir, 'tarball'))
    const tgz = await runCli(['plugins', 'install', tarball], {cwd: dir, env: fromTarball, timeoutMs: 90_000})
    expect(tgz.code, tgz.stderr).to.equal(0)
    expect((await runCli(['--help'], {env: fromTarball})).stdout).to.match(/^\s+delete\s/m)
  })

  it('item 6: a registry that cannot be reached is named with the error, without npm retrying for a minute', async () => {
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const {port} = closed.address() as net.AddressInfo
    await new Promise((resolve) => closed.close(resolve))
    const registry = `http://127.0.0.1:${port}`
    // The CLI is killed (and the test fails) if it takes as long as npm's retries (about 70 s).
    const result = await runCli(['plugins', 'install', 'iss-plugin-delete'], {
      env: installation(dir, {ISS_NPM_REGISTRY: registry}),
      timeoutMs: 40_000,
    })
    expect(result.code).to.equal(3)
    expect(lines(result.stderr)).to.deep.equal([
      `iss: the plugin registry at ${registry} could not be reached (ECONNREFUSED); check the network, or set ` +
        'ISS_NPM_REGISTRY to a registry you can reach',
    ])
  })

  it('item 4: a plugin whose command cannot load costs one line naming it and its removal, on every command', async () => {
    const env = installation(dir)
    const broken = writePlugin(dir, 'iss-plugin-broken', {oops: "require('no-such-dependency')\n"})
    expect((await runCli(['plugins', 'link', '--no-install', broken], {env})).code).to.equal(0)
    const result = await runCli(['put', 'missing.png'], {env, cwd: dir})
    expect(result.code).to.equal(2)
    const stderr = lines(result.stderr)
    expect(stderr).to.have.length(2)
    expect(stderr[0]).to.match(
      /^iss: plugin iss-plugin-broken is broken, its command 'oops' cannot load \(.*no-such-dependency.*\); remove it with: iss plugins uninstall iss-plugin-broken$/,
    )
    expect(stderr[1]).to.equal('missing.png: no such file')
    expect(result.stderr).to.not.match(/typescript|Require stack|\n\s+at /i)
    // Its own command: the same one line, not a stack, and not "is not an iss command".
    const own = await runCli(['oops'], {env, cwd: dir})
    expect(own.code).to.equal(2)
    expect(lines(own.stderr)).to.deep.equal([stderr[0]])
  })

  it('item 5: a plugin command named like a built-in is announced once, naming both; the built-in runs', async () => {
    const env = installation(dir)
    const shadow = writePlugin(dir, 'iss-plugin-shadow', {put: WORKING_COMMAND, shadowed: WORKING_COMMAND})
    expect((await runCli(['plugins', 'link', '--no-install', shadow], {env})).code).to.equal(0)
    const result = await runCli(['put', 'missing.png'], {env, cwd: dir})
    expect(result.code).to.equal(2)
    expect(lines(result.stderr)).to.deep.equal([
      "iss: plugin iss-plugin-shadow adds a command 'put', which is iss's own 'put'; iss runs its own. Rename it " +
        'in iss-plugin-shadow, or remove the plugin: iss plugins uninstall iss-plugin-shadow',
      'missing.png: no such file',
    ])
    const other = await runCli(['shadowed', '-p', '1'], {env})
    expect(other.stdout).to.equal('plugin ran\n')
  })
})
