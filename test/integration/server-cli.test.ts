import {expect} from 'chai'
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {png, REPO_ROOT, request, roundTrip} from './server-harness.js'

const RUN = join(REPO_ROOT, 'bin', 'run.js')

interface Started {
  readonly child: ChildProcess
  readonly output: {stdout: string; stderr: string}
  readonly exited: Promise<number | null>
}

/** Runs the built CLI: `iss serve ...args`. */
function serve(args: string[], env: Record<string, string> = {}): Started {
  const child = spawn(process.execPath, [RUN, 'serve', ...args], {
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = {stdout: '', stderr: ''}
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      resolve(code)
    }),
  )
  return {child, output, exited}
}

async function listeningPort(started: Started, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const match = /listening on 127\.0\.0\.1:(\d+)/.exec(started.output.stdout)
    if (match && started.output.stdout.includes('serves PUT')) return Number(match[1])
    if (started.child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  throw new Error(`iss serve did not start: ${started.output.stdout}${started.output.stderr}`)
}

describe('iss serve, the command', function () {
  this.timeout(60_000)
  let dir: string
  const children: ChildProcess[] = []

  before(function () {
    if (existsSync(join(REPO_ROOT, 'dist', 'src', 'commands', 'serve.js'))) {
      return
    }

    console.log('      (skipped: the CLI is not built; run npm run build)')
    this.skip()
  })

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iss-serve-cli-'))
  })

  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
    rmSync(dir, {recursive: true, force: true})
  })

  it('prints the address, the store and each command with its plugin; serves; SIGTERM exits 0', async () => {
    const storage = join(dir, 'store')
    const started = serve(['--port', '0'], {ISS_STORAGE: storage})
    children.push(started.child)
    const port = await listeningPort(started)
    expect(started.output.stdout).to.include(`store: ${storage}`)
    for (const command of ['GET', 'LIST', 'PUT']) {
      expect(started.output.stdout).to.include(`serves ${command} (plugin image-sharing-service)`)
    }

    expect(started.output.stderr).to.not.match(/anyone who can reach/)
    expect((await roundTrip(port, request('PUT', 'a.png', png(500)))).STATUS).to.equal('OK')
    started.child.kill('SIGTERM')
    expect(await started.exited).to.equal(0)
    // One JSON line per request.
    const requestLines = started.output.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request')
    expect(requestLines).to.have.length(1)
    expect(requestLines[0]).to.include({command: 'PUT', filename: 'a.png', status: 'OK', bytes: 500, code: null})
    expect(requestLines[0].peer).to.match(/^127\.0\.0\.1:\d+$/)
    expect(requestLines[0].durationMs).to.be.a('number')
  })

  it('warns when bound to an address other than loopback', async () => {
    const started = serve(['--port', '0', '--host', '0.0.0.0', '--anonymous', 'admin', '--storage', join(dir, 's')])
    children.push(started.child)
    const deadline = Date.now() + 20_000
    // The warning goes to stderr after the start-up lines on stdout: the two pipes arrive in either order.
    const warning = /anyone who can reach this address can read and write/
    while (
      !(
        started.output.stdout.includes('serves PUT') &&
        started.output.stderr.includes('anyone who can reach this address can read and write')
      ) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }

    expect(started.output.stderr).to.match(warning)
    started.child.kill('SIGINT')
    expect(await started.exited).to.equal(0)
  })

  it('a port in use and a store in use each give one line and exit 3', async () => {
    const storage = join(dir, 'store')
    const first = serve(['--port', '0', '--storage', storage])
    children.push(first.child)
    const port = await listeningPort(first)

    const samePort = serve(['--port', String(port), '--storage', join(dir, 'other')])
    expect(await samePort.exited).to.equal(3)
    expect(samePort.output.stderr).to.match(/cannot listen on 127\.0\.0\.1:\d+: the port is already in use/)
    expect(samePort.output.stderr).to.not.match(/\n\s+at /)

    const sameStore = serve(['--port', '0', '--storage', storage])
    expect(await sameStore.exited).to.equal(3)
    expect(sameStore.output.stderr).to.match(/in use by another iss serve/)
    expect(sameStore.output.stderr).to.not.match(/\n\s+at /)

    // The gallery's port taken: the same kind of line, naming --http, before anything says it listens.
    const galleryPort = serve(['--port', '0', '--storage', join(dir, 'third'), '--http', String(port)])
    expect(await galleryPort.exited).to.equal(3)
    expect(galleryPort.output.stderr).to.match(/cannot listen on 127\.0\.0\.1:\d+: the port is already in use/)
    expect(galleryPort.output.stderr).to.match(/--http/)
    expect(galleryPort.output.stdout).to.not.match(/listening on/)
    expect(galleryPort.output.stderr).to.not.match(/\n\s+at |EADDRINUSE/)
  })

  it('a bad size is a usage error (exit 2)', async () => {
    const started = serve(['--port', '0', '--storage', join(dir, 's'), '--max-size', 'lots'])
    expect(await started.exited).to.equal(2)
    expect(started.output.stderr).to.match(/'lots' is not a size/)
  })
})
