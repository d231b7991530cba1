// Runs fuzz-run in its own process with a heap cap and a deadline, for the mocha tests.
import {spawn} from 'node:child_process'
import {join} from 'node:path'

import type {FuzzOptions, FuzzReport} from './fuzz-run.js'

/** Runs the fuzz loop in a child under --max-old-space-size=256; a child past `deadlineMs` is killed and reported as hung. */
export async function fuzzInChild(options: FuzzOptions, deadlineMs: number): Promise<FuzzReport> {
  const isFromSource = __filename.endsWith('.ts')
  const entry = join(__dirname, `fuzz-run${isFromSource ? '.ts' : '.js'}`)
  const args = [
    '--max-old-space-size=256',
    ...(isFromSource ? ['--require', 'tsx/cjs'] : []),
    entry,
    JSON.stringify(options),
  ]
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let report: FuzzReport
      try {
        report = JSON.parse(out) as FuzzReport
      } catch {
        const failed: Pick<FuzzReport, 'failures'> = {
          failures: [`fuzz child ended (${signal ?? code}) without a report: ${err.slice(0, 2000)}`],
        }
        report = failed as FuzzReport
      }

      if (signal === 'SIGKILL') report.failures.push(`fuzz child hung: killed after ${deadlineMs} ms`)
      resolve(report)
    })
  })
}
