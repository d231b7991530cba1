// A store whose disk turns read-only while `iss serve` runs: PUTs answer E_READ_ONLY, reads go on, and
// SIGTERM exits cleanly (no EROFS stack trace). An upload in flight at that moment fails as E_READ_ONLY
// too. (The store object alone on a disk remounted read-only: fs-store-space.)
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import type {FileHandle} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ErrorCode} from '../../src/core/errors.js'
import {SpaceLedger} from '../../src/core/store/space-ledger.js'
import {TempFileSink} from '../../src/core/store/temp-file-sink.js'
import {startIssServer} from '../e2e/cli-harness.js'
import {png, request, roundTrip} from './server-harness.js'

describe('a store that turns read-only mid-run', function () {
  this.timeout(60_000)

  it('iss serve answers PUT with E_READ_ONLY, still serves GET, and exits 0 on SIGTERM without a stack trace', async function () {
    const base = mkdtempSync(join(tmpdir(), 'iss-read-only-'))
    const mountPoint = join(base, 'mnt')
    mkdirSync(mountPoint)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], {stdio: 'pipe'})
    } catch (error) {
      rmSync(base, {recursive: true, force: true})
      console.log(`      (skipped: cannot mount tmpfs here: ${(error as Error).message.split('\n', 1)[0]})`)
      this.skip()
    }

    try {
      const server = await startIssServer(join(mountPoint, 'store'), ['--min-free', '0', '--log-level', 'warn'])
      let stderr = ''
      server.process.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const image = png(2000)
      expect((await roundTrip(server.port, request('PUT', 'before.png', image, true))).STATUS).to.equal('OK')

      execFileSync('mount', ['-o', 'remount,ro', mountPoint])
      const refused = await roundTrip(server.port, request('PUT', 'after.png', png(2000, 3), true))
      expect(refused.STATUS).to.equal('ERROR')
      expect(refused.CODE).to.equal('E_READ_ONLY')
      expect(refused.DETAILS).to.match(/read-only/)
      const got = await roundTrip(server.port, request('GET', 'before.png', null, true))
      expect(Buffer.from(got.FILE_DATA as Uint8Array).equals(image)).to.equal(true)

      const exited = new Promise<number | null>((resolve) => {
        server.process.once('exit', (code) => resolve(code))
      })
      server.process.kill('SIGTERM')
      expect(await exited).to.equal(0)
      expect(stderr).to.not.contain('EROFS')
      expect(stderr).to.not.match(/\n\s+at /)
    } finally {
      execFileSync('umount', [mountPoint])
      rmSync(base, {recursive: true, force: true})
    }
  })

  it('an upload in flight fails with E_READ_ONLY, not E_INTERNAL (errno injected at the file handle)', async () => {
    // A failing disk remounts itself read-only under open files (errors=remount-ro), which a test
    // cannot stage without root tricks: the handle's write fails as the kernel's would.
    const erofs = Object.assign(new Error('EROFS: read-only file system, write'), {code: 'EROFS', errno: -30})
    const handle = {
      async write() {
        throw erofs
      },
      async writev() {
        throw erofs
      },
    }
    const ledger = new SpaceLedger(() => tmpdir(), 0)
    const sink = new TempFileSink(handle as unknown as FileHandle, {reservation: await ledger.reserve(0)})
    const error = await new Promise<unknown>((resolve) => {
      sink.once('error', resolve)
      sink.write(Buffer.from('89504e47', 'hex'))
    })
    expect((error as {code?: string}).code).to.equal(ErrorCode.READ_ONLY)
    expect((error as Error).message).to.match(/read-only/)
  })
})
