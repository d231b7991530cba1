import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import path from 'node:path'
import {link, lstat, open, readFile, rename, unlink} from 'node:fs/promises'

/** The lock file's name inside the store. Dot-named, so never listed as an image. */
export const LOCK_FILE = '.iss-lock'

/** What a lock file records about its holder. */
export interface LockHolder {
  readonly pid: number
  /** The holder's start time in clock ticks since boot (Linux), to tell a reused pid from the holder. */
  readonly startTime: number | null
  readonly host: string
}

/** Another live process (or another store object in this one) holds the store. */
export class StoreLockedError extends Error {
  constructor(
    readonly root: string,
    readonly holder: LockHolder,
  ) {
    const where = holder.host === hostname() ? '' : ` on host ${holder.host}`
    super(`store ${root} is in use by another iss serve (pid ${holder.pid}${where})`)
    this.name = 'StoreLockedError'
  }

  /** Recognisable across package copies, like IssError codes (not in the wire catalogue: never sent). */
  get code(): 'E_STORE_LOCKED' {
    return 'E_STORE_LOCKED'
  }
}

/** A held store lock. */
export interface StoreLock {
  readonly path: string
  release(): Promise<void>
}

/** Lock files held by this process, so a second store object on the same root is refused too. */
const heldHere = new Set<string>()

const MAX_ATTEMPTS = 8

/**
 * Takes `<root>/.iss-lock` for this process. The file is published complete with link(), which
 * fails if the name exists, so two contenders never both win and a reader never sees it half
 * written. A lock whose holder is dead (or a reused pid, told apart by its start time) is stale:
 * it is renamed away (rename is atomic, so one contender removes it) and the attempt repeats.
 *
 * The one race left: between reading a stale lock and renaming it, a third process may have
 * replaced it with a fresh lock; the renamer then sees another inode and links it back, but if
 * yet another process created a lock in that instant, the fresh one is lost. That needs three
 * servers starting on one store at the same moment after a crash.
 */
export async function acquireStoreLock(root: string): Promise<StoreLock> {
  const lockPath = path.join(root, LOCK_FILE)
  const me: LockHolder = {pid: process.pid, startTime: await processStartTime(process.pid), host: hostname()}
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (heldHere.has(lockPath)) throw new StoreLockedError(root, me)
    const ino = await tryCreate(lockPath, me)
    if (ino !== null) {
      heldHere.add(lockPath)
      return {path: lockPath, release: async () => release(lockPath, ino)}
    }

    const current = await readHolder(lockPath)
    if (current === null) continue // gone meanwhile
    if (await isAlive(current.holder)) throw new StoreLockedError(root, current.holder)
    await removeStale(lockPath, current.ino)
  }

  throw new Error(`could not take the lock ${lockPath}: it kept changing`)
}

async function tryCreate(lockPath: string, me: LockHolder): Promise<number | null> {
  const draft = `${lockPath}.${randomBytes(6).toString('hex')}`
  const handle = await open(draft, 'wx', 0o600)
  try {
    await handle.writeFile(`${JSON.stringify(me)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }

  try {
    await link(draft, lockPath)
    return (await lstat(lockPath)).ino
  } catch (error) {
    // ENOENT: a holder sweeping stray drafts removed ours; whoever holds the lock is then found by reading it.
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST' || code === 'ENOENT') return null
    throw error
  } finally {
    await unlink(draft).catch(ignore)
  }
}

async function readHolder(lockPath: string): Promise<{holder: LockHolder; ino: number} | null> {
  let handle
  try {
    handle = await open(lockPath, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }

  try {
    const {ino} = await handle.stat()
    const text = await handle.readFile('utf8')
    return {holder: parseHolder(text), ino}
  } finally {
    await handle.close()
  }
}

/** A lock that does not parse was not written by a live iss (they are published complete): stale. */
function parseHolder(text: string): LockHolder {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>
    if (typeof value.pid === 'number' && Number.isSafeInteger(value.pid) && value.pid > 0) {
      return {
        pid: value.pid,
        startTime: typeof value.startTime === 'number' ? value.startTime : null,
        host: typeof value.host === 'string' ? value.host : hostname(),
      }
    }
  } catch {
    // fall through
  }

  return {pid: 0, startTime: null, host: hostname()}
}

async function isAlive(holder: LockHolder): Promise<boolean> {
  if (holder.pid === 0) return false
  // A pid on another host cannot be checked; the lock may be live, so it holds.
  if (holder.host !== hostname()) return true
  // Our own pid, but not held by this process (checked before): left by an earlier life of this pid.
  if (holder.pid === process.pid) return false
  try {
    process.kill(holder.pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    // EPERM: alive, owned by another user.
  }

  const stat = await procStat(holder.pid)
  if (stat === null) return true
  if (stat.state === 'Z' || stat.state === 'X') return false
  return holder.startTime === null || holder.startTime === stat.startTime
}

async function removeStale(lockPath: string, staleIno: number): Promise<void> {
  const aside = `${lockPath}.stale-${randomBytes(6).toString('hex')}`
  try {
    await rename(lockPath, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }

  try {
    if ((await lstat(aside)).ino !== staleIno) {
      // We moved a fresh lock taken since we looked: put it back unless yet another appeared.
      await link(aside, lockPath).catch(ignore)
    }
  } finally {
    await unlink(aside).catch(ignore)
  }
}

async function release(lockPath: string, ino: number): Promise<void> {
  if (!heldHere.delete(lockPath)) return
  try {
    // Remove only our own file: never a lock someone else took after ours was judged stale.
    if ((await lstat(lockPath)).ino === ino) await unlink(lockPath)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

/** The process's start time in clock ticks since boot, or null where /proc is missing. */
export async function processStartTime(pid: number): Promise<number | null> {
  return (await procStat(pid))?.startTime ?? null
}

async function procStat(pid: number): Promise<{state: string; startTime: number} | null> {
  let text: string
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }

  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); starttime is field 22.
  const startTime = Number(fields[19])
  return Number.isFinite(startTime) ? {state: fields[0], startTime} : null
}

/** For promises whose failure changes nothing (removing a file that may be gone). */
function ignore(): undefined {
  return undefined
}
