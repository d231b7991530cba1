// A store whose disk turns read-only under an upload in flight: the write fails as E_READ_ONLY.
// (The same disk remounted read-only between requests is tested on a real tmpfs in fs-store-space.)
import {expect} from 'chai'
import type {FileHandle} from 'node:fs/promises'
import {tmpdir} from 'node:os'

import {ErrorCode} from '../../src/core/errors.js'
import {SpaceLedger} from '../../src/core/store/space-ledger.js'
import {TempFileSink} from '../../src/core/store/temp-file-sink.js'

describe('an upload in flight when its disk turns read-only (errno injected at the file handle)', () => {
  it('fails with E_READ_ONLY, not E_INTERNAL', async () => {
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
