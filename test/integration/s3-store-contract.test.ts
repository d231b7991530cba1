/* eslint-disable mocha/no-top-level-hooks -- describeWithRgw() is describe() where Ceph RGW can run */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pino from 'pino'

import {FsStore} from '../../src/core/store/fs-store.js'
import s3Backend from '../../src/core/store/s3/s3-backend.js'
import {type Rgw, describeWithRgw, rgw, RGW_START_TIMEOUT_MS, s3Url} from '../support/rgw.js'
import {storeContract} from '../support/store-contract.js'

const quiet = pino({level: 'silent'})

describe('store contract: the filesystem store', () => {
  storeContract({
    ranged: true,
    sha256: true,
    async make() {
      const root = mkdtempSync(join(tmpdir(), 'iss-contract-'))
      const store = new FsStore({root, fsync: false})
      await store.open()
      return {
        store,
        async cleanup() {
          await store.close()
          rmSync(root, {recursive: true, force: true})
        },
      }
    },
  })
})

describeWithRgw('store contract: the s3 store on Ceph RGW', function () {
  this.timeout(60_000)
  let where: Rgw
  before(async function () {
    this.timeout(RGW_START_TIMEOUT_MS)
    where = await rgw()
  })

  storeContract({
    ranged: true,
    sha256: true,
    async make() {
      // A prefix of its own per test: a fresh, empty store on the shared bucket.
      const url = new URL(s3Url(where))
      const options = Object.fromEntries(url.searchParams)
      const store = await s3Backend.create({url, options, env: process.env, maxSize: 64 * 1024 * 1024, logger: quiet})
      await store.open()
      return {
        store,
        async cleanup() {
          await store.close()
        },
      }
    },
  })
})
