import {expect} from 'chai'
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {startRegistry, type LocalRegistry} from '../support/registry.js'
import {pngBytes, removeDir, ROOT, runCli, tempDir} from './cli-harness.js'
import {installation, serve} from './plugin-harness.js'

const RENAME_PLUGIN = path.join(ROOT, 'plugins', 'iss-plugin-rename')

describe('iss-plugin-rename installed from a real registry', function () {
  this.timeout(180_000)
  let registry: LocalRegistry
  let dir: string
  let env: Record<string, string>

  before(async () => {
    registry = await startRegistry()
    registry.publish(RENAME_PLUGIN)
    dir = tempDir('rename-install')
    env = installation(dir, {ISS_NPM_REGISTRY: registry.url, npm_config_userconfig: registry.npmrc})
  })

  after(async () => {
    await registry?.stop()
    if (dir) removeDir(dir)
  })

  it('adds `iss rename FROM TO` and a RENAME handler: renames, refuses a taken name and a type change', async () => {
    const install = await runCli(['plugins', 'install', 'iss-plugin-rename'], {env, timeoutMs: 120_000})
    expect(install.code, install.stderr).to.equal(0)
    // One core: npm did not bring a second copy of the host into the data dir.
    expect(existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', 'iss-plugin-rename', 'package.json'))).to.equal(true)
    expect(existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', 'image-sharing-service'))).to.equal(false)

    const storage = path.join(dir, 'store')
    const server = await serve(env, storage)
    try {
      expect(server.output).to.include('serves RENAME (plugin iss-plugin-rename)')
      const port = ['-p', String(server.port)]
      for (const name of ['Cat.png', 'dog.png']) {
        writeFileSync(path.join(dir, name), pngBytes(2048))
        expect((await runCli(['put', path.join(dir, name), ...port], {env})).code).to.equal(0)
      }

      const renamed = await runCli(['rename', 'cat.PNG', 'Kitten.png', ...port, '--json'], {env})
      expect(renamed.code, renamed.stderr).to.equal(0)
      expect(JSON.parse(renamed.stdout)).to.deep.equal({
        results: [
          {
            name: 'cat.PNG',
            to: 'Kitten.png',
            status: 'ok',
            renamed: 'Kitten.png',
            source: null,
            code: null,
            message: null,
          },
        ],
      })

      const taken = await runCli(['rename', 'Kitten.png', 'DOG.png', ...port], {env})
      expect(taken.code).to.equal(1)
      expect(taken.stderr.trim().split('\n')).to.deep.equal(["Kitten.png: File 'dog.png' already exists on server"])

      const retyped = await runCli(['rename', 'Kitten.png', 'Kitten.jpg', ...port], {env})
      expect(retyped.code).to.equal(1)
      expect(retyped.stderr.trim()).to.equal("Kitten.png: File 'Kitten.jpg' does not contain JPEG data")

      const invalid = await runCli(['rename', 'Kitten.png', '../up.png', ...port], {env})
      expect(invalid.code).to.equal(2)

      const stored = readdirSync(storage)
        .filter((name) => !name.startsWith('.'))
        .sort()
      expect(stored).to.deep.equal(['Kitten.png', 'dog.png'])
    } finally {
      await server.stop()
    }
  })
})
