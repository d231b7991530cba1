// The gallery's browser tests: `iss serve --http` from the built CLI (as a user runs it) and Debian's
// chromium driven by playwright-core (playwright downloads no browser here).
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import path from 'node:path'
import readline from 'node:readline'
import {type Browser, chromium} from 'playwright-core'

import {BIN, cliEnv, ROOT} from './cli-harness.js'

/** Where the browser tests leave their screenshots (git-ignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts')

export const CHROMIUM = process.env.ISS_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Debian's chromium, headless, with its background services off: without them it keeps calling
 * out to a network this machine does not have. playwright gives it a fresh, empty profile
 * (--user-data-dir in a new temporary folder) each time.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  })
}

export interface GalleryServer {
  readonly port: number
  readonly httpPort: number
  readonly base: string
  readonly child: ChildProcess
  readonly env: Record<string, string>
  stop(): Promise<void>
}

/** `iss serve --http 0` with its own data directory; resolves once both the protocol and the gallery listen. */
export async function startGalleryServer(
  dataDir: string,
  storage: string,
  extraArgs: string[] = [],
): Promise<GalleryServer> {
  const env = {ISS_DATA_DIR: dataDir}
  mkdirSync(storage, {recursive: true})
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--http', '0', '--storage', storage, '--log-level', 'warn', ...extraArgs],
    {cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe']},
  )
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  const ports = await new Promise<{port: number; httpPort: number}>((resolve, reject) => {
    let port: number | undefined
    let httpPort: number | undefined
    const timer = setTimeout(() => reject(new Error(`iss serve did not start in 30 s; stderr: ${stderr}`)), 30_000)
    readline.createInterface({input: child.stdout}).on('line', (line) => {
      port ??= Number(/listening on .*:(\d+)\s*$/.exec(line)?.[1]) || undefined
      httpPort ??= Number(/gallery on https?:\/\/.*:(\d+)\/$/.exec(line)?.[1]) || undefined
      if (port !== undefined && httpPort !== undefined) {
        clearTimeout(timer)
        resolve({port, httpPort})
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`iss serve exited with ${code}; stderr: ${stderr}`))
    })
  })
  return {
    ...ports,
    base: `http://127.0.0.1:${ports.httpPort}`,
    child,
    env,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill('SIGTERM')
      })
    },
  }
}
