// Runs test/interop/seed_client.py, a client written from the seed in plain CPython.
import {spawn} from 'node:child_process'
import {join} from 'node:path'

import {REPO_ROOT} from '../integration/server-harness.js'

const CLIENT = join(REPO_ROOT, 'test', 'interop', 'seed_client.py')

export interface SeedLine {
  keys?: string[]
  types?: Record<string, string>
  COMMAND?: unknown
  STATUS?: unknown
  DETAILS?: unknown
  FILENAME?: unknown
  CODE?: unknown
  COMMANDS?: unknown
  length?: number
  sha256?: string
  error?: string
}

/** Runs the seed client with a script (asynchronously: the server runs in this process); one line per operation. */
export async function runSeedClient(port: number, script: object[] | object, args: string[] = []): Promise<SeedLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [CLIENT, '--port', String(port), '--timeout', '20', ...args])
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (code === 0) {
        resolve(
          stdout
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as SeedLine),
        )
      } else {
        reject(new Error(`seed_client.py exited ${code}: ${stderr}`))
      }
    })
    child.stdin.end(JSON.stringify(script))
  })
}
