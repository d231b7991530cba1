import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {SDK_VERSION} from '../../src/core/sdk-range.js'
import {collect, pngBytes, removeDir, ROOT, runCli, tempDir} from './cli-harness.js'
import {installation, provideDevDependencies, serve} from './plugin-harness.js'

const NAME = 'iss-plugin-probe'
/** The variable the scaffold's subscriber reads its log file from (derived from the package name). */
const LOG_ENV = 'ISS_PLUGIN_PROBE_LOG'

/** Lines of the event log once it has `count` of them (subscribers run after the answer), or after 10 s. */
async function logLines(file: string, count: number): Promise<string[]> {
  const until = Date.now() + 10_000
  let lines: string[] = []
  while (Date.now() < until) {
    lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []
    if (lines.length >= count) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  return lines
}

describe('iss plugins new: a scaffolded plugin, from nothing to a working command', function () {
  this.timeout(300_000)
  let dir: string

  beforeEach(() => {
    dir = tempDir('scaffold')
  })

  afterEach(() => removeDir(dir))

  it('builds, passes its own tests, links, serves its COMMAND, and its subscriber logs one line per publish, rename and delete', async () => {
    const env = installation(dir)
    const pluginDir = path.join(dir, 'probe')
    const made = await runCli(['plugins', 'new', NAME, '--command', 'probe', '--with-events', '--dir', pluginDir], {
      env,
    })
    expect(made.code, made.stderr).to.equal(0)
    expect(made.stderr).to.equal('')
    const pjson = JSON.parse(readFileSync(path.join(pluginDir, 'package.json'), 'utf8'))
    expect(pjson.peerDependencies).to.deep.equal({'image-sharing-service': '>=0.1.0'})
    expect(pjson.peerDependenciesMeta).to.deep.equal({'image-sharing-service': {optional: true}})
    expect(pjson.iss.sdk).to.equal(`^${SDK_VERSION}`)
    expect(pjson.iss.handlers).to.deep.equal({PROBE: {module: './dist/src/handlers/probe.js', scope: 'read'}})
    expect(Object.keys(pjson.iss.events)).to.deep.equal(['image.published', 'image.deleted', 'image.renamed'])
    for (const file of ['tsconfig.json', 'README.md', 'src/commands/probe.ts', 'src/handlers/probe.ts']) {
      expect(existsSync(path.join(pluginDir, file)), file).to.equal(true)
    }

    // Its own `npm test` (build, manifest, mocha + chai against a real server), on the Node iss runs on.
    provideDevDependencies(pluginDir)
    const npm = spawn('npm', ['test'], {
      cwd: pluginDir,
      env: {...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const tested = await collect(npm, 240_000)
    expect(tested.code, `${tested.stdout}\n${tested.stderr}`).to.equal(0)
    expect(tested.stdout).to.match(/\b5 passing\b/)
    expect(tested.stdout).to.not.match(/failing|pending/)
    expect(existsSync(path.join(pluginDir, 'oclif.manifest.json'))).to.equal(true)

    // Linked next to the first-party DELETE and RENAME, so that every image event can happen.
    for (const plugin of [
      pluginDir,
      path.join(ROOT, 'plugins', 'iss-plugin-delete'),
      path.join(ROOT, 'plugins', 'iss-plugin-rename'),
    ]) {
      const link = await runCli(['plugins', 'link', '--no-install', plugin], {env, timeoutMs: 60_000})
      expect(link.code, link.stderr).to.equal(0)
    }

    const help = await runCli(['probe', '--help'], {env})
    expect(help.code, help.stderr).to.equal(0)
    expect(help.stdout).to.contain('Send PROBE for a stored image to an iss server.')

    const log = path.join(dir, 'events.log')
    const server = await serve({...env, [LOG_ENV]: log}, path.join(dir, 'store'))
    try {
      expect(server.output).to.include(`serves PROBE (plugin ${NAME})`)
      const port = ['-p', String(server.port)]
      const image = path.join(dir, 'Sunset.png')
      writeFileSync(image, pngBytes(4096))
      expect((await runCli(['put', image, ...port], {env})).code).to.equal(0)

      const probed = await runCli(['probe', 'sunset.PNG', ...port, '--json'], {env})
      expect(probed.code, probed.stderr).to.equal(0)
      expect(JSON.parse(probed.stdout)).to.deep.equal({
        results: [
          {
            name: 'sunset.PNG',
            status: 'ok',
            stored: 'Sunset.png',
            details: '4096 bytes',
            source: null,
            code: null,
            message: null,
          },
        ],
      })
      const missing = await runCli(['probe', 'none.png', ...port], {env})
      expect(missing.code).to.equal(1)
      expect(missing.stderr.trim().split('\n')).to.deep.equal(["none.png: File 'none.png' does not exist on server"])

      expect((await runCli(['rename', 'Sunset.png', 'Dawn.png', ...port], {env})).code).to.equal(0)
      expect((await runCli(['delete', 'Dawn.png', ...port], {env})).code).to.equal(0)
      const lines = await logLines(log, 3)
      expect(lines.map((line) => line.replace(/^\S+ /u, ''))).to.deep.equal([
        'image.published Sunset.png',
        'image.renamed Sunset.png -> Dawn.png',
        'image.deleted Dawn.png',
      ])
      expect(lines[0]).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /u)
    } finally {
      await server.stop()
    }
  })

  it('refuses a bad COMMAND, one iss already has, a bad package name and a folder that is not empty: one line, exit 2, nothing written', async () => {
    const env = installation(dir)
    const badVerb = await runCli(['plugins', 'new', NAME, '--command', '9lives', '--dir', path.join(dir, 'a')], {env})
    expect(badVerb.code).to.equal(2)
    expect(badVerb.stderr).to.match(/^iss: --command '9lives' is not a protocol COMMAND: [^\n]+\n$/u)
    expect(existsSync(path.join(dir, 'a'))).to.equal(false)

    for (const taken of ['put', 'LIST', 'serve']) {
      const clash = await runCli(['plugins', 'new', NAME, '--command', taken, '--dir', path.join(dir, 'c')], {env})
      expect(clash.code, taken).to.equal(2)
      expect(clash.stderr).to.match(/^iss: --command [A-Z]+: iss already has it \('iss [a-z]+'\); [^\n]+\n$/u)
      expect(existsSync(path.join(dir, 'c'))).to.equal(false)
    }

    const badName = await runCli(['plugins', 'new', 'Bad Name', '--command', 'X', '--dir', path.join(dir, 'b')], {env})
    expect(badName.code).to.equal(2)
    expect(badName.stderr).to.contain("'Bad Name' is not an npm package name")
    expect(existsSync(path.join(dir, 'b'))).to.equal(false)

    const occupied = path.join(dir, 'c')
    const first = await runCli(['plugins', 'new', NAME, '--command', 'X', '--dir', occupied], {env})
    expect(first.code, first.stderr).to.equal(0)
    const before = readdirSync(occupied)
    const again = await runCli(['plugins', 'new', 'iss-plugin-other', '--command', 'Y', '--dir', occupied], {env})
    expect(again.code).to.equal(2)
    expect(again.stderr).to.contain('is not empty; choose a new folder with --dir')
    expect(again.stderr).to.not.match(/\n\s+at /)
    expect(readdirSync(occupied)).to.deep.equal(before)
    expect(JSON.parse(readFileSync(path.join(occupied, 'package.json'), 'utf8')).name).to.equal(NAME)
  })
})
