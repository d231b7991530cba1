// What the plugin kit's end-to-end tests share: isolated installations, `iss serve` as a child process,
// and a plugin folder given this checkout's own build tools.
import {type ChildProcess} from 'node:child_process'
import {mkdirSync, readFileSync, symlinkSync} from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'

import {ROOT, spawnCli} from './cli-harness.js'

/** An isolated iss installation: its own data, config and cache directories. */
export function installation(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ISS_DATA_DIR: path.join(dir, 'data'),
    ISS_CONFIG_DIR: path.join(dir, 'config'),
    ISS_CACHE_DIR: path.join(dir, 'cache'),
    ...extra,
  }
}

export interface Served {
  readonly port: number
  /** stdout lines so far (the start-up lines name each served COMMAND). */
  readonly output: string[]
  readonly child: ChildProcess
  stop(): Promise<void>
}

/** `iss serve` of one installation on a free port; resolves once it listens and has printed what it serves. */
export async function serve(env: Record<string, string>, storage: string): Promise<Served> {
  const child = spawnCli(['serve', '--port', '0', '--storage', storage, '--log-level', 'warn'], {env})
  const output: string[] = []
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iss serve did not listen; stderr: ${stderr}`)), 30_000)
    readline.createInterface({input: child.stdout!}).on('line', (line) => {
      output.push(line)
      const match = /listening on .*:(\d+)$/.exec(line)
      if (match) {
        clearTimeout(timer)
        // The handler lines follow the address; give them a moment to arrive.
        setTimeout(() => resolve(Number(match[1])), 200)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`iss serve exited with ${code}: ${stderr}`))
    })
  })
  return {
    port,
    output,
    child,
    stop: async () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

/**
 * Installs a scaffolded plugin's dev dependencies without the network: each package its package.json
 * declares is linked from this checkout's node_modules (the scaffold declares the tool ranges of this
 * checkout's own package.json, so typescript, oclif, mocha, chai and the types packages are the versions iss is
 * built with; their own dependencies resolve from there), with its bin entries in node_modules/.bin, and
 * `image-sharing-service` is this checkout, as the scaffold's default `file:` spec makes npm link it.
 * Returns the names linked. `npm install` would fetch the same tools from a registry.
 */
export function provideDevDependencies(pluginDir: string): string[] {
  const pjson = JSON.parse(readFileSync(path.join(pluginDir, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>
  }
  const modules = path.join(pluginDir, 'node_modules')
  const bin = path.join(modules, '.bin')
  mkdirSync(bin, {recursive: true})
  const names = Object.keys(pjson.devDependencies)
  for (const name of names) {
    const installed = name === 'image-sharing-service' ? ROOT : path.join(ROOT, 'node_modules', name)
    const link = path.join(modules, name)
    mkdirSync(path.dirname(link), {recursive: true})
    symlinkSync(installed, link)
    const declared = (JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {bin?: unknown}).bin
    const bins = typeof declared === 'string' ? {[name.replace(/^@[^/]+\//u, '')]: declared} : (declared ?? {})
    for (const [command, file] of Object.entries(bins as Record<string, string>)) {
      symlinkSync(path.join(installed, file), path.join(bin, command))
    }
  }

  return names
}
