import {mkdir, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {PlanError, type PluginPlan} from './plan.js'
import {gitignore, packageJson, tsconfigJson} from './templates/project.js'
import {readme} from './templates/readme.js'
import {commandSource, handlerSource, subscriberSource} from './templates/sources.js'
import {testSource} from './templates/tests.js'

/** The files of a new plugin, relative path -> content. */
export function pluginFiles(plan: PluginPlan): Map<string, string> {
  const files = new Map<string, string>([
    ['package.json', packageJson(plan)],
    ['tsconfig.json', tsconfigJson()],
    ['.gitignore', gitignore()],
    ['README.md', readme(plan)],
    [`src/commands/${plan.id}.ts`, commandSource(plan)],
    [`src/handlers/${plan.id}.ts`, handlerSource(plan)],
    [`test/${plan.id}.test.ts`, testSource(plan)],
  ])
  if (plan.withEvents) files.set('src/events/log-image-events.ts', subscriberSource(plan))
  return files
}

/**
 * Writes the plugin into `dir`, which must not exist or be empty (nothing of the user's is ever
 * overwritten). Returns the relative paths written, in order.
 */
export async function writePlugin(plan: PluginPlan, dir: string): Promise<string[]> {
  const existing = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') throw new PlanError(`${dir} is a file, not a folder`)
    throw error
  })
  if (existing.length > 0) throw new PlanError(`${dir} is not empty; choose a new folder with --dir`)
  const files = pluginFiles(plan)
  for (const [relative, content] of files) {
    const target = path.join(dir, relative)
    await mkdir(path.dirname(target), {recursive: true})
    // wx: fail rather than replace, should something appear meanwhile.
    await writeFile(target, content, {flag: 'wx'})
  }

  return [...files.keys()]
}
