/* eslint-disable mocha/no-exports -- a support module: it defines suites for the S3 test files */
// One Ceph RGW per test run (scripts/rgw.sh), started by the first S3 suite that needs it and
// stopped when the run's process exits. Without Ceph's packages the S3 suites are skipped with one
// line, except under CI=true, where they fail instead.
import {execFile, spawnSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'

import {REPO_ROOT} from '../integration/server-harness.js'

const SCRIPT = join(REPO_ROOT, 'scripts', 'rgw.sh')
const TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph']
export const HOW_TO_RUN =
  'apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common (Debian 12), then npm test; ' +
  'scripts/rgw.sh starts the single-node cluster the suite uses'

export interface Rgw {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string
  readonly region: string
  /** The environment a child process needs to reach it (endpoint, region, keys). */
  readonly env: Readonly<Record<string, string>>
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, tool)))
}

/** True when the S3 suites can run here (Ceph's tools are installed), or must (CI=true). */
export const rgwWanted: boolean = process.env.CI === 'true' || TOOLS.every((tool) => onPath(tool))

let announced = false
/**
 * Registers `define` as a mocha suite when RGW can run here; otherwise prints, once per run, the
 * one line that says how to run the S3 suites.
 */
export function describeWithRgw(title: string, define: (this: Mocha.Suite) => void): void {
  if (rgwWanted) {
    describe(title, define)
    return
  }

  if (!announced) {
    announced = true
    console.log(`  S3 store suites skipped: Ceph RGW is not installed. To run them: ${HOW_TO_RUN}`)
  }
}

let started: Promise<Rgw> | undefined
let dir: string | null = null

/** The run's RGW, started on first use (about 15-50 s). Fails with the script's output when it cannot start. */
export async function rgw(): Promise<Rgw> {
  started ??= new Promise<Rgw>((resolve, reject) => {
    // A developer's running cluster (scripts/rgw.sh start DIR) saves the start-up; it is left running.
    const given = process.env.ISS_TEST_RGW_DIR
    if (given === undefined) {
      dir = mkdtempSync(join(tmpdir(), 'iss-rgw-'))
      process.once('exit', stopRgw)
    }

    execFile(
      SCRIPT,
      [given === undefined ? 'start' : 'env', given ?? dir!],
      {timeout: 400_000},
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`scripts/rgw.sh could not start Ceph RGW (${HOW_TO_RUN}): ${stderr}`))
          return
        }

        const env: Record<string, string> = {}
        for (const line of stdout.trim().split('\n')) {
          const at = line.indexOf('=')
          if (at > 0) env[line.slice(0, at)] = line.slice(at + 1)
        }

        // The SDK in this process and in server children finds the keys through the standard chain.
        process.env.AWS_ACCESS_KEY_ID = env.AWS_ACCESS_KEY_ID
        process.env.AWS_SECRET_ACCESS_KEY = env.AWS_SECRET_ACCESS_KEY
        resolve({endpoint: env.ISS_S3_ENDPOINT, region: env.ISS_S3_REGION, env})
      },
    )
  })
  return started
}

function stopRgw(): void {
  if (dir !== null) spawnSync(SCRIPT, ['stop', dir], {stdio: 'ignore', timeout: 30_000})
  dir = null
}

/** Time to allow a suite's before() that may start RGW. */
export const RGW_START_TIMEOUT_MS = 420_000

/** A storage URL on the run's RGW in a bucket and prefix of its own. */
export function s3Url(where: Rgw, options: {bucket?: string; prefix?: string; grace?: string} = {}): string {
  const bucket = options.bucket ?? 'iss-test'
  const prefix = options.prefix ?? randomUUID().slice(0, 8)
  const query = new URLSearchParams({endpoint: where.endpoint, region: where.region})
  if (options.grace !== undefined) query.set('grace', options.grace)
  return `s3://${bucket}/${prefix}?${query.toString()}`
}
