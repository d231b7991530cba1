// A server in its own process (test/integration/server-child), for tests that kill it, signal it or
// read its /proc counters.
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'

import type {ServerConfig} from '../../src/core/config.js'

export interface Child {
  readonly process: ChildProcess
  readonly port: number
  readonly exited: Promise<number | null>
}

/** Starts test/integration/server-child in its own Node process (from source under tsx, else compiled). */
export async function startChild(
  config: Partial<ServerConfig>,
  options: {readonly startTimeoutMs?: number} = {},
): Promise<Child> {
  const entry = join(__dirname, `server-child${__filename.endsWith('.ts') ? '.ts' : '.js'}`)
  const args = entry.endsWith('.ts') ? ['--require', 'tsx/cjs', entry] : [entry]
  const full: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    storage: '',
    maxSize: 64 * 1024 * 1024,
    storageOptions: {minFree: 0, fsync: true},
    maxConnections: 16,
    idleTimeoutMs: 30_000,
    minRateBytes: 1,
    rateWindowMs: 10_000,
    shutdownGraceMs: 10_000,
    ...config,
  }
  const child = spawn(process.execPath, [...args, JSON.stringify(full)], {stdio: ['ignore', 'pipe', 'inherit']})
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      resolve(code)
    }),
  )
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      reject(new Error('server child did not start'))
    }, options.startTimeoutMs ?? 20_000)
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /PORT (\d+)/.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.on('exit', () => {
      reject(new Error(`server child exited early: ${out}`))
    })
  })
  return {process: child, port, exited}
}
