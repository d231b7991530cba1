// `iss serve --storage s3://...` as a user runs it (bin/run.js in its own process), for the S3 suites.
import {type ChildProcess, spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {REPO_ROOT} from '../integration/server-harness.js'

const RUN = join(REPO_ROOT, 'bin', 'run.js')

export interface ServeProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly output: {stdout: string; stderr: string}
  /** Graceful stop (SIGTERM), bounded; then SIGKILL. */
  stop(): Promise<void>
}

/** Environment for a server child: this process's (it holds the RGW keys), without ISS_* settings. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ISS_')) env[key] = value
  return {...env, NO_COLOR: '1', ...extra}
}

/** Starts `iss serve --port 0 --storage STORAGE ...args`; resolves once it listens. */
export async function serve(
  storage: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [RUN, 'serve', '--port', '0', '--storage', storage, ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = {stdout: '', stderr: ''}
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()))
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
  })
  const deadline = Date.now() + 60_000
  let port = 0
  while (port === 0) {
    const match = /listening on 127\.0\.0\.1:(\d+)/.exec(output.stdout)
    if (match && output.stdout.includes('serves PUT')) port = Number(match[1])
    else if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`iss serve did not start: ${output.stdout}${output.stderr}`)
    } else await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return {
    child,
    port,
    output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** Peak resident memory of a process in bytes (VmHWM, Linux). */
export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmHWM:\s+(\d+) kB/m.exec(status)
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`)
  return Number(match[1]) * 1024
}
