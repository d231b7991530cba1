import {Config} from '@oclif/core'
import {expect} from 'chai'
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {pngBytes, removeDir, ROOT, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

/** Every file below `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, {recursive: true, withFileTypes: true})
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
}

// What bin/run.js does before a command runs: `--version` without oclif, Node's compile cache in iss's cache
// directory, and client commands that load no server code.
describe('iss start-up', function () {
  this.timeout(60_000)
  let work: string
  let server: RunningServer
  let port: string
  let hook: string

  before(async () => {
    work = tempDir('start-up')
    const storage = path.join(work, 'store')
    mkdirSync(storage)
    server = await startIssServer(storage)
    port = String(server.port)
    // Preloaded into the CLI: writes the files it loaded to $ISS_TEST_MODULES when it exits.
    hook = path.join(work, 'modules-hook.js')
    writeFileSync(
      hook,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.ISS_TEST_MODULES, " +
        'JSON.stringify(Object.keys(require.cache))))\n',
    )
  })

  after(async () => {
    await server?.stop()
    removeDir(work)
  })

  /** Runs the CLI and returns its result with the modules it loaded. */
  let traces = 0
  async function traced(args: string[], env: Record<string, string> = {}) {
    const out = path.join(work, `modules-${traces++}.json`)
    const result = await runCli(args, {env: {...env, ISS_TEST_MODULES: out, NODE_OPTIONS: `--require ${hook}`}})
    const modules = JSON.parse(readFileSync(out, 'utf8')) as string[]
    return {...result, modules}
  }

  it('prints the version line oclif would print, without loading oclif', async () => {
    const config = await Config.load(ROOT)
    const result = await traced(['--version'])
    expect(result.stderr).to.equal('')
    expect(result.stdout).to.equal(`${config.userAgent}\n`)
    expect(result.code).to.equal(0)
    expect(result.modules.filter((file) => file.includes(`${path.sep}@oclif${path.sep}`))).to.deep.equal([])
  })

  it('runs list and put without loading server code, the logger or the DI container', async () => {
    const file = path.join(work, 'start-up.png')
    writeFileSync(file, pngBytes(512))
    const put = await traced(['put', '--port', port, file])
    expect(put.code, put.stderr).to.equal(0)
    const list = await traced(['list', '--port', port])
    expect(list.code, list.stderr).to.equal(0)
    expect(list.stdout).to.equal('start-up.png\n')
    const serverSide =
      /[/\\](pino|tsyringe|reflect-metadata)[/\\]|dist[/\\]src[/\\](handlers[/\\]|core[/\\]store[/\\]|core[/\\].*server)/
    const bundle = path.join(ROOT, 'dist', 'bundle', 'cli.js')
    for (const {modules} of [put, list]) {
      expect(modules.filter((module) => serverSide.test(path.relative(ROOT, module)))).to.deep.equal([])
      if (modules.includes(bundle)) {
        // From the bundle (after `npm run build`): oclif and the client code are in it, and no server code.
        expect(
          modules.filter((module) => module.includes(`${path.sep}@oclif${path.sep}core${path.sep}`)),
        ).to.deep.equal([])
        const meta = JSON.parse(readFileSync(path.join(ROOT, 'dist', 'bundle-meta.json'), 'utf8')) as {
          inputs: Record<string, unknown>
        }
        const inputs = Object.keys(meta.inputs)
        expect(inputs.some((input) => input.endsWith('core/protocol-command.js'))).to.equal(true)
        expect(inputs.filter((input) => serverSide.test(input))).to.deep.equal([])
      } else {
        // From the compiled files (after `tsc -b` alone).
        expect(modules).to.include(path.join(ROOT, 'dist', 'src', 'core', 'protocol-command.js'))
      }
    }
  })

  it("keeps Node's compile cache under ISS_CACHE_DIR, or NODE_COMPILE_CACHE when that is set", async () => {
    const cache = path.join(work, 'cache')
    const result = await runCli(['list', '--port', port], {env: {ISS_CACHE_DIR: cache}})
    expect(result.code, result.stderr).to.equal(0)
    const cached = filesUnder(path.join(cache, 'compile-cache'))
    expect(cached.length, 'compiled modules cached').to.be.greaterThan(0)

    const chosen = path.join(work, 'node-compile-cache')
    const ignored = path.join(work, 'unused-cache')
    const second = await runCli(['list', '--port', port], {env: {ISS_CACHE_DIR: ignored, NODE_COMPILE_CACHE: chosen}})
    expect(second.code, second.stderr).to.equal(0)
    expect(filesUnder(chosen).length).to.be.greaterThan(0)
    expect(existsSync(ignored)).to.equal(false)
  })

  it('runs as usual when the cache directory cannot be made', async () => {
    const usual = await runCli(['list', '--port', port])
    const notADirectory = path.join(work, 'a-file')
    writeFileSync(notADirectory, 'not a directory')
    const result = await runCli(['list', '--port', port], {env: {ISS_CACHE_DIR: path.join(notADirectory, 'iss')}})
    expect({code: result.code, stdout: result.stdout, stderr: result.stderr}).to.deep.equal({
      code: 0,
      stdout: usual.stdout,
      stderr: '',
    })
  })
})
