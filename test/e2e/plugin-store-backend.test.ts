// A store backend from a plugin, chosen by the real `iss serve --storage made-up://x?option=1`: the
// linked fixture's backend builds the store and receives its option; a flag it does not take is refused.
import {expect} from 'chai'
import path from 'node:path'
import readline from 'node:readline'

import {ClientConnection} from '../../src/core/transport/client-connection.js'
import {pngBytes, removeDir, ROOT, runCli, spawnCli, tempDir} from './cli-harness.js'

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'plugins', 'iss-plugin-memory-store')

describe('a store backend from a plugin, end to end', function () {
  this.timeout(120_000)
  let dir: string
  let env: Record<string, string>

  before(async () => {
    dir = tempDir('store-backend')
    env = {
      ISS_DATA_DIR: path.join(dir, 'data'),
      ISS_CONFIG_DIR: path.join(dir, 'config'),
      ISS_CACHE_DIR: path.join(dir, 'cache'),
    }
    const link = await runCli(['plugins', 'link', '--no-install', FIXTURE], {env})
    expect(link.code, link.stderr).to.equal(0)
  })

  after(() => removeDir(dir))

  it('iss serve --storage made-up://x?option=1 stores through the plugin backend, which got its option', async () => {
    const child = spawnCli(['serve', '--port', '0', '--storage', 'made-up://x?option=1', '--log-level', 'warn'], {env})
    const lines: string[] = []
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no address; said ${lines.join('\n')}`)), 30_000)
        readline.createInterface({input: child.stdout!}).on('line', (line) => {
          lines.push(line)
          const match = /listening on .*:(\d+)$/.exec(line)
          if (match) {
            clearTimeout(timer)
            setTimeout(() => resolve(Number(match[1])), 200)
          }
        })
        child.once('exit', (code) => reject(new Error(`iss serve exited with ${code}`)))
      })
      expect(lines).to.include('store: memory (made-up://x, option=1)')
      const client = await ClientConnection.connect({
        host: '127.0.0.1',
        port,
        timeoutMs: 10_000,
        byteOrder: 'big',
        maxSize: 1 << 20,
      })
      try {
        const put = await client.request({
          COMMAND: 'PUT',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: 'm.png',
          FILE_DATA: pngBytes(3000),
          extra: {VERSION: 1n},
        })
        expect(put.STATUS, String(put.DETAILS)).to.equal('OK')
        const list = await client.request({
          COMMAND: 'LIST',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: null,
          FILE_DATA: null,
          extra: {VERSION: 1n},
        })
        expect(list.DETAILS).to.deep.equal(['m.png'])
      } finally {
        client.close()
      }
    } finally {
      child.kill('SIGTERM')
    }
  })

  it('refuses --min-free for a backend that has no such option, naming the options it takes', async () => {
    const result = await runCli(['serve', '--port', '0', '--storage', 'made-up://x', '--min-free', '1MiB'], {env})
    expect(result.code).to.equal(2)
    expect(result.stderr.replaceAll(/\s*\n\s*›\s*/g, ' ')).to.contain(
      'the made-up: store has no option minFree; it takes option',
    )
  })
})
