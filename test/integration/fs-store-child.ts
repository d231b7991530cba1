// A separate process for the fs-store tests: holds a store, or dies (SIGKILL) in the middle of an upload.
// Usage: fs-store-child <hold|upload> <root>
import {FsStore} from '../../src/core/store/fs-store.js'

const [mode, root] = process.argv.slice(2)
const LIMIT_MS = 30_000

async function main(): Promise<void> {
  const store = new FsStore({root, fsync: false})
  await store.open()
  setTimeout(() => process.exit(4), LIMIT_MS).unref()
  if (mode === 'hold') {
    process.stdout.write(`READY ${process.pid}\n`)
    setInterval(() => {}, 1000)
    return
  }

  if (mode === 'upload') {
    const upload = await store.spool()
    const chunk = Buffer.alloc(64 * 1024, 0xab)
    let isAnnounced = false
    // Bounded: 256 MiB at most, slowly, so the parent can kill us mid-way.
    for (let i = 0; i < 4096; i++) {
      if (!upload.sink.write(chunk)) await new Promise((resolve) => upload.sink.once('drain', resolve))
      if (!isAnnounced && upload.bytesWritten >= 1024 * 1024) {
        isAnnounced = true
        process.stdout.write(`WRITING ${upload.bytesWritten}\n`)
      }

      if (isAnnounced) await new Promise((resolve) => setTimeout(resolve, 5))
    }

    await upload.commit('never.png')
    process.exit(5)
  }

  process.exit(3)
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(2)
})
