import {Args, Command, Flags} from '@oclif/core'

import {ExitCode} from '../../core/errors.js'
import {createLogger} from '../../core/logger.js'
import {StartupError} from '../../core/registry.js'
import type * as discovery from '../../core/discovery.js'
import type * as storageModule from '../../core/store/storage.js'
import type * as storeCopy from '../../core/store/store-copy.js'
import type {CopiedItem} from '../../core/store/store-copy.js'
import type {ImageStore} from '../../core/store/store.js'

/** Largest image the copy accepts: the source already holds it, so only the target's own limits apply. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER

export default class StoreCopy extends Command {
  static override summary = 'Copy every image from one store to another (a folder to a bucket, say).'

  static override description =
    'Names are kept; an image the target already holds with the same SHA-256 is skipped, so a second run ' +
    'copies nothing; every copy is read back and checked by SHA-256. SRC and DST are --storage locations: a ' +
    'folder path, or a URL such as s3://bucket/prefix?endpoint=http://127.0.0.1:7480 (credentials from the ' +
    'AWS chain). A folder store must not be in use by a running iss serve.'

  static override examples = [
    '<%= config.bin %> <%= command.id %> /srv/images "s3://images?endpoint=http://127.0.0.1:7480"',
    '<%= config.bin %> <%= command.id %> s3://old-bucket s3://new-bucket/iss --json',
  ]

  static override args = {
    src: Args.string({description: 'The store to copy from.', required: true}),
    dst: Args.string({description: 'The store to copy to.', required: true}),
  }

  static override flags = {
    json: Flags.boolean({description: 'One JSON document on stdout: {items: [...], summary: {...}}.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(StoreCopy)
    // Loaded here: other commands never pay for the stores (or the AWS SDK).
    /* eslint-disable @typescript-eslint/no-require-imports -- lazy: other commands never load the stores */
    const {discoverHandlers} = require('../../core/discovery.js') as typeof discovery
    const {createStore} = require('../../core/store/storage.js') as typeof storageModule
    const {copyStore} = require('../../core/store/store-copy.js') as typeof storeCopy
    /* eslint-enable @typescript-eslint/no-require-imports */
    const logger = createLogger({level: 'warn', fd: 2})
    const {stores} = discoverHandlers(this.config.getPluginsList())
    const opened: ImageStore[] = []
    const open = async (storage: string, role: string): Promise<ImageStore> => {
      let store: ImageStore | undefined
      try {
        store = await createStore({storage, backends: stores, load: require, maxSize: NO_LIMIT, logger})
      } catch (error) {
        this.error((error as Error).message, {
          exit: error instanceof StartupError ? ExitCode.LOCAL_ERROR : ExitCode.CONNECTION,
        })
      }

      if (store === undefined) throw new Error('unreachable')
      try {
        await store.open()
      } catch (error) {
        this.error(`cannot open the ${role} store ${storage}: ${(error as Error).message}`, {exit: ExitCode.CONNECTION})
      }

      opened.push(store)
      return store
    }

    const items: CopiedItem[] = []
    let mismatch = false
    const counts = {copied: 0, identical: 0, conflict: 0, error: 0, bytes: 0}
    try {
      const source = await open(args.src, 'source')
      const target = await open(args.dst, 'target')
      await copyStore(source, target, (item) => {
        counts[item.status]++
        if (item.code === 'E_DIGEST_MISMATCH') mismatch = true
        if (item.status === 'copied') counts.bytes += item.size
        if (flags.json) items.push(item)
        else if (item.status === 'copied') this.log(`copied ${item.name} (${item.size} bytes)`)
        else if (item.status !== 'identical') process.stderr.write(`${item.status}: ${item.name}: ${item.message}\n`)
      })
    } finally {
      await Promise.all(opened.map(async (store) => store.close().catch(() => undefined)))
    }

    const summary = {...counts}
    if (flags.json) {
      this.log(JSON.stringify({items, summary}))
    } else {
      this.log(
        `${counts.copied} copied (${counts.bytes} bytes), ${counts.identical} already there, ` +
          `${counts.conflict} conflicts, ${counts.error} errors`,
      )
    }

    if (mismatch) this.exit(ExitCode.CONNECTION)
    if (counts.conflict + counts.error > 0) this.exit(ExitCode.SERVER_ERROR)
  }
}
