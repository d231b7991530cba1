import {readdir, stat} from 'node:fs/promises'
import path from 'node:path'

import {familyOf} from '../images/names.js'

/** What `iss put` makes of its arguments: the files to check and send, and what a folder held that is not sent. */
export interface PutPlan {
  /** Files to check and send, in order: arguments that are not folders as given, then each folder's images. */
  files: string[]
  /** Entries of folders that are not sent, with why (not an image name, hidden, a link to a folder). */
  skipped: Array<{file: string; reason: string}>
  /** Subfolders left out because --recursive was not given. */
  subfolders: number
  /** True when at least one argument was a folder holding images. */
  hadFolder: boolean
}

/**
 * Expands folders among `args` into the image files they hold (by extension: .jpg, .jpeg, .png, any case), in
 * name order, and with `recursive` their subfolders' too. Hidden entries (a name starting with '.': dotfiles,
 * `get`'s part files, .git) are skipped, as `ls` and shell globs do; a link to a file is followed, a link to a
 * folder is not (it could loop). An argument that is not a folder is passed on as given, for the usual checks.
 */
export async function planPut(args: readonly string[], recursive: boolean): Promise<PutPlan> {
  const plan: PutPlan = {files: [], skipped: [], subfolders: 0, hadFolder: false}
  for (const arg of args) {
    const stats = await stat(arg).catch(() => undefined)
    if (stats?.isDirectory()) {
      const before = plan.files.length
      const skipped = plan.skipped.length
      await walk(arg, recursive, plan)
      if (plan.files.length > before) plan.hadFolder = true
      else {
        // No image in it: the folder goes on as an argument, so the file checks refuse it in its place (exit 2).
        plan.skipped.length = skipped
        plan.files.push(arg)
      }
    } else {
      plan.files.push(arg)
    }
  }
  return plan
}

async function walk(folder: string, recursive: boolean, plan: PutPlan): Promise<void> {
  const entries = await readdir(folder, {withFileTypes: true})
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  const subfolders: string[] = []
  for (const entry of entries) {
    const file = path.join(folder, entry.name)
    if (entry.name.startsWith('.')) {
      plan.skipped.push({file, reason: 'hidden'})
      continue
    }
    let isFolder = entry.isDirectory()
    if (entry.isSymbolicLink()) {
      const target = await stat(file).catch(() => undefined)
      if (target?.isDirectory()) {
        plan.skipped.push({file, reason: 'a link to a folder (not followed)'})
        continue
      }
      isFolder = false
    }
    if (isFolder) {
      if (recursive) subfolders.push(file)
      else plan.subfolders++
      continue
    }
    if (familyOf(entry.name) === null) {
      plan.skipped.push({file, reason: 'not a .jpg, .jpeg or .png file'})
      continue
    }
    plan.files.push(file)
  }
  for (const sub of subfolders) {
    await walk(sub, recursive, plan)
  }
}
