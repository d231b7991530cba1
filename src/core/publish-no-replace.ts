import {link, lstat, rename, unlink} from 'node:fs/promises'

/** Errors of link() on filesystems (or mounts) that have no hard links. */
const NO_HARD_LINKS = new Set(['EMLINK', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EPERM'])

/**
 * Gives the complete file `from` the name `to` without ever replacing anything already there,
 * for the server's store and the client's downloads alike: link() fails with EEXIST if anything,
 * even a dangling symbolic link, has that name (rename() would replace it). On a filesystem without
 * hard links it checks, then renames: a window only someone writing that folder by hand can use.
 * Returns false, touching nothing, when `to` exists. `from` is gone afterwards unless
 * `keepSource` (the store removes its temporary file itself, after syncing the directory).
 */
export async function publishWithoutReplacing(
  from: string,
  to: string,
  options: {readonly keepSource?: boolean} = {},
): Promise<boolean> {
  try {
    await link(from, to)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? ''
    if (code === 'EEXIST') return false
    if (!NO_HARD_LINKS.has(code)) throw error
    const existing = await lstat(to).catch(() => null)
    if (existing !== null) return false
    await rename(from, to)
    return true
  }

  if (options.keepSource !== true) await unlink(from)
  return true
}
