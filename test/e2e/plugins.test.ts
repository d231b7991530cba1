import {expect} from 'chai'
import {existsSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {ClientConnection} from '../../src/core/transport/client-connection.js'
import {startRegistry, type LocalRegistry} from '../support/registry.js'
import {pngBytes, removeDir, ROOT, runCli, tempDir} from './cli-harness.js'
import {installation, serve} from './plugin-harness.js'

const DELETE_PLUGIN = path.join(ROOT, 'plugins', 'iss-plugin-delete')
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'plugins')

async function rawRequest(port: number, COMMAND: string, FILENAME: string | null) {
  const client = await ClientConnection.connect({
    host: '127.0.0.1',
    port,
    timeoutMs: 10_000,
    byteOrder: 'big',
    maxSize: 1 << 20,
  })
  try {
    return await client.request({
      COMMAND,
      STATUS: 'REQUEST',
      DETAILS: null,
      FILENAME,
      FILE_DATA: null,
      extra: {VERSION: 1n},
    })
  } finally {
    client.close()
  }
}

describe('command plugins, end to end', function () {
  this.timeout(180_000)

  describe('iss-plugin-delete installed from a real registry', () => {
    let registry: LocalRegistry
    let dir: string
    let env: Record<string, string>

    before(async () => {
      registry = await startRegistry()
      registry.publish(DELETE_PLUGIN)
      dir = tempDir('plugins-install')
      env = installation(dir, {ISS_NPM_REGISTRY: registry.url, npm_config_userconfig: registry.npmrc})
    })

    after(async () => {
      await registry?.stop()
      if (dir) removeDir(dir)
    })

    it('installs, adds `iss delete` and a DELETE handler, and is gone again after uninstall', async () => {
      const install = await runCli(['plugins', 'install', 'iss-plugin-delete'], {env, timeoutMs: 120_000})
      expect(install.code, install.stderr).to.equal(0)
      // One core: npm did not bring a second copy of the host (and its oclif, tsyringe) into the data dir.
      expect(existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', 'iss-plugin-delete', 'package.json'))).to.equal(
        true,
      )
      expect(existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', 'image-sharing-service'))).to.equal(false)
      expect(existsSync(path.join(env.ISS_DATA_DIR, 'node_modules', 'tsyringe'))).to.equal(false)

      const help = await runCli(['--help'], {env})
      expect(help.stdout).to.match(/^\s+delete\s/m)

      const storage = path.join(dir, 'store')
      const server = await serve(env, storage)
      try {
        expect(server.output).to.include('serves DELETE (plugin iss-plugin-delete)')
        const image = path.join(dir, 'Sunset.png')
        writeFileSync(image, pngBytes(4096))
        const put = await runCli(['put', image, '-p', String(server.port)], {env})
        expect(put.code, put.stderr).to.equal(0)

        // The handler was built by the host's container with the host's store injected (Tokens.Store):
        // it finds the image the core PUT stored, by its case-insensitive identity.
        const deleted = await runCli(['delete', 'sunset.PNG', '-p', String(server.port), '--json'], {env})
        expect(deleted.code, deleted.stderr).to.equal(0)
        expect(JSON.parse(deleted.stdout)).to.deep.equal({
          // Issue 11 item 11: the documented per-item shape (status ok, source), not an invented "deleted" status.
          results: [{name: 'sunset.PNG', status: 'ok', deleted: 'Sunset.png', source: null, code: null, message: null}],
        })

        const target = path.join(dir, 'out')
        const get = await runCli(['get', 'Sunset.png', '-o', path.join(dir, 'got.png'), '-p', String(server.port)], {
          env,
        })
        expect(get.code).to.equal(1)
        expect(get.stderr).to.contain('does not exist on server')
        expect(existsSync(target)).to.equal(false)

        const again = await runCli(['delete', 'Sunset.png', '-p', String(server.port)], {env})
        expect(again.code).to.equal(1)
        expect(again.stderr.trim().split('\n')).to.have.length(1)
      } finally {
        await server.stop()
      }

      const uninstall = await runCli(['plugins', 'uninstall', 'iss-plugin-delete'], {env, timeoutMs: 60_000})
      expect(uninstall.code, uninstall.stderr).to.equal(0)
      const gone = await runCli(['delete', 'Sunset.png'], {env})
      expect(gone.code).to.not.equal(0)
      // Issue 11 item 8: the command word only, not its arguments, and a grammatical line.
      expect(gone.stderr.trim()).to.equal(
        "iss: 'delete' is not an iss command; run 'iss help' for the list of commands",
      )

      const restarted = await serve(env, storage)
      try {
        expect(restarted.output.join('\n')).to.not.contain('DELETE')
        const answer = await rawRequest(restarted.port, 'DELETE', 'Sunset.png')
        expect(answer.STATUS).to.equal('ERROR')
        expect(answer.CODE).to.equal('E_UNKNOWN_COMMAND')
        expect(answer.COMMANDS).to.deep.equal(['GET', 'LIST', 'PUT'])
      } finally {
        await restarted.stop()
      }
    })
  })

  describe('linked plugins (development)', () => {
    let dir: string

    beforeEach(() => {
      dir = tempDir('plugins-link')
    })

    afterEach(() => removeDir(dir))

    it('`iss plugins link` gives `iss delete`; against a server without the handler it says what to install where', async () => {
      const client = installation(path.join(dir, 'client'))
      const link = await runCli(['plugins', 'link', '--no-install', DELETE_PLUGIN], {env: client})
      expect(link.code, link.stderr).to.equal(0)

      // The server is a separate installation without the plugin.
      const server = await serve(installation(path.join(dir, 'server')), path.join(dir, 'store'))
      try {
        const result = await runCli(['delete', 'cat.jpg', '-p', String(server.port)], {env: client})
        expect(result.code).to.equal(1)
        const lines = result.stderr.trim().split('\n')
        expect(lines).to.have.length(1)
        expect(lines[0]).to.contain(`does not support DELETE; it serves GET, LIST, PUT`)
        expect(lines[0]).to.contain('where the server runs')
      } finally {
        await server.stop()
      }
    })

    it('serves a handler written in plain JavaScript that injects core services by token', async () => {
      const env = installation(dir)
      expect(
        (await runCli(['plugins', 'link', '--no-install', path.join(FIXTURES, 'iss-plugin-stat-js')], {env})).code,
      ).to.equal(0)
      const server = await serve(env, path.join(dir, 'store'))
      try {
        expect(server.output).to.include('serves STAT (plugin iss-plugin-stat-js)')
        const image = path.join(dir, 'a.png')
        writeFileSync(image, pngBytes(1000))
        expect((await runCli(['put', image, '-p', String(server.port)], {env})).code).to.equal(0)
        const answer = await rawRequest(server.port, 'STAT', 'A.PNG')
        expect(answer.STATUS).to.equal('OK')
        expect(answer.FILENAME).to.equal('a.png')
        expect(answer.DETAILS).to.equal(`1000 bytes (limit ${256 * 1024 * 1024})`)
      } finally {
        await server.stop()
      }
    })

    it('refuses to start when two plugins claim one COMMAND, naming both', async () => {
      const env = installation(dir)
      expect(
        (await runCli(['plugins', 'link', '--no-install', path.join(FIXTURES, 'iss-plugin-conflict')], {env})).code,
      ).to.equal(0)
      const result = await runCli(['serve', '--port', '0', '--storage', path.join(dir, 'store')], {env})
      expect(result.code).to.equal(2)
      expect(result.stderr).to.contain("'image-sharing-service'")
      expect(result.stderr).to.contain("'iss-plugin-conflict'")
      expect(result.stderr).to.contain('PUT')
      expect(result.stderr).to.not.match(/\n\s+at /)
    })

    it('skips a plugin built for another SDK API with a line naming both versions', async () => {
      const env = installation(dir)
      expect(
        (await runCli(['plugins', 'link', '--no-install', path.join(FIXTURES, 'iss-plugin-sdk-too-new')], {env})).code,
      ).to.equal(0)
      const server = await serve(env, path.join(dir, 'store'))
      await server.stop()
      expect(server.output.join('\n')).to.not.contain('NOOP')
    })
  })
})
