import {statfs} from 'node:fs/promises'

/** Bytes an unprivileged process may still write on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const stats = await statfs(path)
  return stats.bavail * stats.bsize
}
