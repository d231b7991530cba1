// A plugin declares the semver range of iss SDK versions it supports ("iss": {"sdk": "^2.0.0"}). The
// host checks it at install (from a real local registry) and at start (`iss serve`), refusing one
// out of range or malformed with one line naming both versions, instead of failing later.
import {expect} from 'chai'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {SDK_VERSION} from '../../src/core/sdk-range.js'
import {startRegistry, type LocalRegistry} from '../support/registry.js'
import {removeDir, runCli, spawnCli, tempDir} from './cli-harness.js'

/** An isolated iss installation: its own data, config and cache directories. */
function installation(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ISS_DATA_DIR: path.join(dir, 'data'),
    ISS_CONFIG_DIR: path.join(dir, 'config'),
    ISS_CACHE_DIR: path.join(dir, 'cache'),
    ...extra,
  }
}

/** A plain-JS plugin serving one COMMAND, with the given `iss` SDK keys, written into `dir`. */
function writePlugin(dir: string, name: string, command: string, sdkKeys: Record<string, unknown>): string {
  const root = path.join(dir, name)
  mkdirSync(root, {recursive: true})
  writeFileSync(
    path.join(root, 'handler.js'),
    `module.exports = class { async handle() { return {details: '${command}'} } }\n`,
  )
  const pjson = {
    name,
    version: '1.0.0',
    main: 'handler.js',
    files: ['handler.js'],
    oclif: {},
    iss: {...sdkKeys, handlers: {[command]: './handler.js'}},
  }
  writeFileSync(path.join(root, 'package.json'), JSON.stringify(pjson, null, 2))
  return root
}

const PLUGINS = {
  ok: {name: 'iss-plugin-sdk-ok', command: 'OKAY', sdk: {sdk: '^2.0.0'}},
  future: {name: 'iss-plugin-sdk-future', command: 'LATER', sdk: {sdk: '^99.0.0'}},
  malformed: {name: 'iss-plugin-sdk-malformed', command: 'BANANA', sdk: {sdk: 'banana'}},
  old: {name: 'iss-plugin-sdk-old', command: 'OLDIE', sdk: {sdkApi: '1'}},
} as const

/** `iss serve` on a free port until it listens, then SIGTERM; returns everything it printed. */
async function serveOnce(env: Record<string, string>, storage: string): Promise<{stdout: string; stderr: string}> {
  const child = spawnCli(['serve', '--port', '0', '--storage', storage, '--log-level', 'warn'], {env})
  let stdout = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iss serve did not listen; stderr: ${stderr}`)), 30_000)
    readline.createInterface({input: child.stdout!}).on('line', (line) => {
      stdout += `${line}\n`
      // The handler lines follow the address; give them a moment to arrive.
      if (line.includes('listening on ')) setTimeout(resolve, 300)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`iss serve exited with ${code}: ${stderr}`))
    })
  })
  const exited = new Promise((resolve) => {
    child.once('exit', resolve)
  })
  child.kill('SIGTERM')
  await exited
  return {stdout, stderr}
}

describe('plugin SDK range', function () {
  this.timeout(240_000)
  let dir: string

  before(() => {
    dir = tempDir('sdk-range')
    for (const plugin of Object.values(PLUGINS))
      writePlugin(path.join(dir, 'src'), plugin.name, plugin.command, plugin.sdk)
  })

  after(() => removeDir(dir))

  describe('at start: iss serve skips a plugin outside its range with one line, and serves the rest', () => {
    it('serves the one in range; names both versions and the removal command for out of range, malformed and sdkApi', async () => {
      const env = installation(path.join(dir, 'start'))
      for (const plugin of Object.values(PLUGINS)) {
        const link = await runCli(['plugins', 'link', '--no-install', path.join(dir, 'src', plugin.name)], {env})
        expect(link.code, link.stderr).to.equal(0)
      }

      const {stdout, stderr} = await serveOnce(env, path.join(dir, 'start', 'store'))
      expect(stdout).to.contain(`serves OKAY (plugin ${PLUGINS.ok.name})`)
      for (const command of ['LATER', 'BANANA', 'OLDIE']) expect(stdout).to.not.contain(command)
      const lines = stderr.split('\n').filter((line) => line.includes('iss SDK') || line.includes('SDK range'))
      expect(lines).to.have.length(3)
      const line = (name: string) => lines.find((text) => text.includes(`'${name}'`)) ?? ''
      expect(line(PLUGINS.future.name)).to.contain(
        `supports iss SDK ^99.0.0, but this iss implements SDK ${SDK_VERSION}`,
      )
      expect(line(PLUGINS.malformed.name)).to.contain(`the SDK range "banana", which is not a semver range`)
      expect(line(PLUGINS.old.name)).to.contain(`was built for iss SDK "1" (it declares "sdkApi")`)
      for (const name of [PLUGINS.future.name, PLUGINS.malformed.name, PLUGINS.old.name]) {
        expect(line(name)).to.contain(`iss plugins uninstall ${name}`)
        expect(line(name)).to.contain(SDK_VERSION)
      }

      expect(stderr).to.not.match(/\n\s+at /)
    })
  })

  describe('at install, from a real registry', () => {
    let registry: LocalRegistry
    let env: Record<string, string>

    before(async () => {
      registry = await startRegistry()
      for (const plugin of [PLUGINS.ok, PLUGINS.future, PLUGINS.malformed]) {
        registry.publish(path.join(dir, 'src', plugin.name))
      }

      env = installation(path.join(dir, 'install'), {
        ISS_NPM_REGISTRY: registry.url,
        npm_config_userconfig: registry.npmrc,
      })
    })

    after(async () => registry?.stop())

    const installed = (name: string) => existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', name, 'package.json'))

    it('installs a plugin whose range includes this SDK', async () => {
      const result = await runCli(['plugins', 'install', PLUGINS.ok.name], {env, timeoutMs: 120_000})
      expect(result.code, result.stderr).to.equal(0)
      expect(installed(PLUGINS.ok.name)).to.equal(true)
    })

    it('refuses one out of range, naming both versions, and leaves it uninstalled', async () => {
      const result = await runCli(['plugins', 'install', PLUGINS.future.name], {env, timeoutMs: 120_000})
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr).to.contain(
        `Plugin '${PLUGINS.future.name}' supports iss SDK ^99.0.0, but this iss implements SDK ${SDK_VERSION}`,
      )
      expect(result.stderr).to.contain('not installed')
      expect(result.stderr).to.not.match(/\n\s+at /)
      expect(installed(PLUGINS.future.name)).to.equal(false)
      const list = await runCli(['plugins'], {env})
      expect(list.stdout).to.not.contain(PLUGINS.future.name)
      expect(list.stdout).to.contain(PLUGINS.ok.name)
    })

    it('refuses one whose range is malformed, and leaves it uninstalled', async () => {
      const result = await runCli(['plugins', 'install', PLUGINS.malformed.name], {env, timeoutMs: 120_000})
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr).to.contain(`the SDK range "banana", which is not a semver range`)
      expect(result.stderr).to.contain(SDK_VERSION)
      expect(installed(PLUGINS.malformed.name)).to.equal(false)
    })
  })
})
