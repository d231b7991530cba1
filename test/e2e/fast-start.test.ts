import {expect} from 'chai'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import path from 'node:path'

import {pngBytes, removeDir, ROOT, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

// bin/run.js runs `iss --version` and `iss list` without oclif when it can (src/core/fast-start.ts). Each case
// runs twice, with the fast path allowed and with ISS_FAST_START=0, and must print the same bytes and exit
// the same way; a preloaded hook records whether oclif's main module ran, so each case also checks which
// path was taken.
describe('fast start: iss --version and iss list without oclif', function () {
  this.timeout(180_000)
  let work: string
  let server: RunningServer
  let port: string
  let closed: string
  let hook: string

  before(async () => {
    work = tempDir('fast-start')
    const storage = path.join(work, 'store')
    mkdirSync(storage)
    server = await startIssServer(storage)
    port = String(server.port)
    closed = String(await closedPort())
    for (const name of ['b.png', 'A.png', 'ç.png']) writeFileSync(path.join(work, name), pngBytes(2048))
    const put = await runCli(['put', '-p', port, ...['b.png', 'A.png', 'ç.png'].map((name) => path.join(work, name))])
    expect(put.code, put.stderr).to.equal(0)
    hook = path.join(work, 'trace-hook.js')
    writeFileSync(
      hook,
      "process.on('exit', () => require('node:fs').appendFileSync(process.env.FAST_START_TRACE, " +
        "Object.keys(require.cache).some((file) => file.endsWith('/@oclif/core/lib/main.js')) ? 'oclif' : 'fast'))\n",
    )
  })

  after(async () => {
    await server?.stop()
    removeDir(work)
  })

  let runs = 0
  async function both(args: string[], env: Record<string, string> = {}) {
    const results = []
    for (const fast of ['1', '0']) {
      const trace = path.join(work, `trace-${runs++}`)
      const result = await runCli(args, {
        env: {...env, ISS_FAST_START: fast, FAST_START_TRACE: trace, NODE_OPTIONS: `--require ${hook}`},
      })
      results.push({...result, path: readFileSync(trace, 'utf8')})
      rmSync(trace, {force: true})
    }

    const [allowed, off] = results
    expect(off.path, 'ISS_FAST_START=0 goes to oclif').to.equal('oclif')
    expect({code: allowed.code, stdout: allowed.stdout, stderr: allowed.stderr}, args.join(' ')).to.deep.equal({
      code: off.code,
      stdout: off.stdout,
      stderr: off.stderr,
    })
    return allowed
  }

  const fastCases: Array<[string, () => string[], (() => Record<string, string>)?]> = [
    ['--version', () => ['--version']],
    ['list -H -p', () => ['list', '-H', '127.0.0.1', '-p', port]],
    ['list --json', () => ['list', '--port', port, '--json']],
    ['list --flag=value forms', () => ['list', `--port=${port}`, '--host=127.0.0.1', '--timeout', '5']],
    ['list --frame-endian little', () => ['list', '-p', port, '--frame-endian', 'little']],
    ['list with ISS_PORT', () => ['list'], () => ({ISS_PORT: port})],
    ['list refused', () => ['list', '-p', closed]],
    ['list refused --json', () => ['list', '--json'], () => ({ISS_PORT: closed})],
    ['list with an empty ISS_HOST', () => ['list', '-p', port], () => ({ISS_HOST: ''})],
  ]
  for (const [title, args, env] of fastCases) {
    it(`runs without oclif and as oclif does: ${title}`, async () => {
      const result = await both(args(), env?.())
      expect(result.path).to.equal('fast')
    })
  }

  it('lists what oclif lists, and exits 3 with one line when refused', async () => {
    const listed = await both(['list', '-p', port])
    expect(listed.stdout).to.equal('A.png\nb.png\nç.png\n')
    expect(listed.code).to.equal(0)
    const json = await both(['list', '-p', port, '--json'])
    expect(JSON.parse(json.stdout)).to.deep.equal({names: ['A.png', 'b.png', 'ç.png'], message: null})
    const refused = await both(['list', '-p', closed])
    expect(refused.code).to.equal(3)
    expect(refused.stderr).to.match(/^iss: cannot connect to 127\.0\.0\.1:\d+: connection refused/)
  })

  const oclifCases: Array<[string, () => string[], (() => Record<string, string>)?]> = [
    ['list --help', () => ['list', '--help']],
    ['list -h', () => ['list', '-p', port, '-h']],
    ['a port out of range', () => ['list', '-p', '70000']],
    ['a port that is not a number', () => ['list', '-p', 'x9']],
    ['a timeout below its minimum', () => ['list', '-p', port, '--timeout', '0']],
    ['an unknown frame order', () => ['list', '-p', port, '--frame-endian', 'middle']],
    ['an unknown flag', () => ['list', '-p', port, '--bogus']],
    ['a positional argument', () => ['list', '-p', port, 'extra']],
    ['a flag with no value', () => ['list', '-p']],
    ['a flag given twice', () => ['list', '-p', port, '-p', port]],
    ['-pVALUE', () => ['list', `-p${port}`]],
    ['a bad ISS_PORT', () => ['list'], () => ({ISS_PORT: 'abc'})],
    ['ISS_CONTENT_TYPE=json', () => ['list', '-p', port], () => ({ISS_CONTENT_TYPE: 'json'})],
    ['--version with more', () => ['--version', 'list']],
    ['no command', () => []],
  ]
  for (const [title, args, env] of oclifCases) {
    it(`hands to oclif: ${title}`, async () => {
      const result = await both(args(), env?.())
      expect(result.path).to.equal('oclif')
    })
  }

  it('hands to oclif when an installed plugin has an init hook, and stays fast with the delete plugin linked', async () => {
    const plugin = path.join(work, 'hooked-plugin')
    mkdirSync(plugin, {recursive: true})
    writeFileSync(
      path.join(plugin, 'package.json'),
      JSON.stringify({name: 'hooked-plugin', version: '1.0.0', oclif: {hooks: {init: './init.js'}}}),
    )
    writeFileSync(
      path.join(plugin, 'init.js'),
      "module.exports = async () => process.stderr.write('init hook ran\\n')\n",
    )
    const dataDir = path.join(work, 'data')
    mkdirSync(dataDir, {recursive: true})
    const link = (name: string, root: string) => ({type: 'link', name, root})
    writeFileSync(
      path.join(dataDir, 'package.json'),
      JSON.stringify({private: true, oclif: {schema: 1, plugins: [link('hooked-plugin', plugin)]}}),
    )
    const hooked = await both(['list', '-p', port], {ISS_DATA_DIR: dataDir})
    expect(hooked.path).to.equal('oclif')
    expect(hooked.stderr).to.contain('init hook ran')
    const version = await both(['--version'], {ISS_DATA_DIR: dataDir})
    expect(version.path).to.equal('oclif')

    const pluginWithoutHooks = path.join(ROOT, 'plugins', 'iss-plugin-delete')
    writeFileSync(
      path.join(dataDir, 'package.json'),
      JSON.stringify({private: true, oclif: {schema: 1, plugins: [link('iss-plugin-delete', pluginWithoutHooks)]}}),
    )
    const linked = await both(['list', '-p', port], {ISS_DATA_DIR: dataDir})
    expect(linked.path).to.equal('fast')
    expect(linked.stdout).to.equal('A.png\nb.png\nç.png\n')
  })
})
