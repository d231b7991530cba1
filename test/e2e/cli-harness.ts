import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'

import {jpegHead, pngHead} from '../fixtures/images.js'

/** The repository root, found from this file whether it runs from test/ (tsx) or dist/test/ (compiled). */
export const ROOT = (() => {
  let dir = __dirname
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'bin', 'run.js'))) return dir
    dir = path.dirname(dir)
  }
  throw new Error('cannot find the repository root from ' + __dirname)
})()

export const BIN = path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  cwd?: string
  env?: Record<string, string>
  timeoutMs?: number
}

/** Environment for the CLI under test: no ISS_* from the caller, no colour, an isolated data dir. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ISS_')) env[key] = value
  }
  return {...env, NO_COLOR: '1', FORCE_COLOR: '0', ...isolatedHome(), ...extra}
}

let home: string | undefined

/**
 * oclif's data, config and cache folders for this test process, never the user's: a developer's own
 * profiles, known_servers, tokens file or self-signed certificate must not change what a test sees.
 */
function isolatedHome(): Record<string, string> {
  if (home === undefined) {
    const made = mkdtempSync(path.join(os.tmpdir(), 'iss-test-home-'))
    home = made
    process.once('exit', () => rmSync(made, {recursive: true, force: true}))
  }
  return {
    ISS_DATA_DIR: path.join(home, 'data'),
    ISS_CONFIG_DIR: path.join(home, 'config'),
    ISS_CACHE_DIR: path.join(home, 'cache'),
  }
}

/** Starts `node bin/run.js ...args` (the built CLI, as a user runs it). */
export function spawnCli(args: string[], options: CliOptions = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: cliEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/** Runs the CLI to completion (killed after `timeoutMs`) and collects its output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options)
  return collect(child, options.timeoutMs ?? 30_000)
}

export async function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`CLI did not finish in ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`))
    }, timeoutMs)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code, signal, stdout, stderr})
    })
  })
}

/** A fresh folder under the OS temp dir, removed by `cleanup`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `iss-${prefix}-`))
}

export function removeDir(dir: string): void {
  rmSync(dir, {force: true, recursive: true})
}

/** Bytes that pass the local checks: the PNG signature and IHDR chunk, then random data. */
export function pngBytes(size: number): Buffer {
  const data = randomBytes(size)
  pngHead().copy(data)
  return data
}

/** JPEG start-of-image and a JFIF segment, then random data. */
export function jpegBytes(size: number): Buffer {
  const data = randomBytes(size)
  jpegHead().copy(data)
  return data
}

export interface RunningServer {
  port: number
  process: ChildProcess
  stop(): Promise<void>
}

/** Waits for a line of the child's stdout that `match` accepts, returning what it returns. */
async function waitForLine<T>(
  child: ChildProcess,
  match: (line: string) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({input: child.stdout!})
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text))
    const timer = setTimeout(() => {
      reject(new Error(`server printed no address in ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    lines.on('line', (line) => {
      const found = match(line)
      if (found !== undefined) {
        clearTimeout(timer)
        resolve(found)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`))
    })
  })
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.kill('SIGTERM')
    })
}

/** The Python server written from the seed (test/interop/seed_server.py), on 127.0.0.1 port 0. */
export async function startSeedServer(storage: string, endian: 'native' | 'big' | 'little'): Promise<RunningServer> {
  const script = path.join(ROOT, 'test', 'interop', 'seed_server.py')
  const child = spawn('python3', [script, storage, '--endian', endian], {stdio: ['ignore', 'pipe', 'pipe']})
  const port = await waitForLine(child, (line) => /^PORT (\d+)$/.exec(line)?.[1], 10_000)
  return {port: Number(port), process: child, stop: stopper(child)}
}

/** `iss serve` from the built CLI on 127.0.0.1 port 0, with its store in `storage`. */
export async function startIssServer(storage: string, extraArgs: string[] = []): Promise<RunningServer> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--storage', storage, ...extraArgs],
    {cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe']},
  )
  const port = await waitForLine(child, (line) => /listening on .*:(\d+)\s*$/.exec(line)?.[1], 20_000)
  return {port: Number(port), process: child, stop: stopper(child)}
}
