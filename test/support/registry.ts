import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** A real npm registry (verdaccio) on loopback, proxying to whatever registry npm is configured with. */
export interface LocalRegistry {
  readonly url: string
  /** A userconfig that lets anonymous publishes through. */
  readonly npmrc: string
  publish(packageDir: string): void
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

async function waitForPing(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}`)
    try {
      const response = await fetch(`${url}/-/ping`)
      if (response.ok) return
    } catch {
      // not listening yet
    }

    await new Promise((resolve) => setTimeout(resolve, 200))
  }

  throw new Error(`verdaccio did not answer at ${url} within ${deadlineMs} ms`)
}

export async function startRegistry(): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'iss-registry-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // The uplink is read at test time so that no registry host is written into the repository.
  const upstream = spawnSync('npm', ['config', 'get', 'registry'], {encoding: 'utf8'}).stdout.trim()
  const config = [
    `storage: ${join(dir, 'storage')}`,
    'uplinks:',
    '  upstream:',
    `    url: ${upstream}`,
    '    timeout: 60s',
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $anonymous',
    '    proxy: upstream',
    'log: {type: stdout, format: pretty, level: error}',
    '',
  ].join('\n')
  await writeFile(join(dir, 'config.yaml'), config)
  const npmrc = join(dir, 'npmrc')
  await writeFile(npmrc, `registry=${url}/\n//127.0.0.1:${port}/:_authToken=anonymous\n`)

  const bin = require.resolve('verdaccio/bin/verdaccio')
  const child = spawn(process.execPath, [bin, '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  try {
    await waitForPing(url, child, 30_000)
  } catch (error) {
    child.kill('SIGKILL')
    throw new Error(`${(error as Error).message}\n${output}`, {cause: error})
  }

  return {
    url,
    npmrc,
    publish(packageDir: string) {
      const result = spawnSync('npm', ['publish', '--ignore-scripts', '--registry', url, '--userconfig', npmrc], {
        cwd: packageDir,
        encoding: 'utf8',
      })
      if (result.status !== 0) throw new Error(`npm publish failed:\n${result.stdout}\n${result.stderr}`)
    },
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => {
        if (child.exitCode === null) child.once('exit', resolve)
        else resolve(undefined)
      })
      await rm(dir, {recursive: true, force: true})
    },
  }
}
