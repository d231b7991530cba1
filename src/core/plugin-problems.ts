/**
 * Broken plugins, said once each in one line. oclif reports a plugin command that cannot load as a process
 * warning with a 20-line require stack, on every command; this turns each into one line naming the plugin
 * and the command that removes it. Installed by bin/run.js before oclif loads its plugins.
 */

/** A Node warning as oclif emits it for a plugin (process.emitWarning with name, code and detail). */
interface PluginWarning extends Error {
  code?: string
  detail?: string
}

const reported = new Set<string>()
/** Command ids that a broken plugin failed to load, with the plugin's name. */
const brokenCommands = new Map<string, string>()

/**
 * The plugin whose command `id` (oclif's colon form) failed to load, if one did: its line is already out,
 * so "not a command" would be untrue. Waits a turn first, as Node hands warnings out on a later tick.
 */
export async function brokenCommandPlugin(id: string): Promise<string | undefined> {
  await new Promise((resolve) => {
    setImmediate(resolve)
  })
  return brokenCommands.get(id)
}

/** The field `key: value` of oclif's warning detail. */
function field(detail: string, key: string): string | undefined {
  return new RegExp(`^${key}: (.*)$`, 'mu').exec(detail)?.[1]
}

/** The one line for a broken plugin, or undefined for a warning that is not about a plugin. */
export function brokenPluginLine(bin: string, warning: PluginWarning): string | undefined {
  const detail = warning.detail ?? ''
  const plugin = field(detail, 'plugin')
  if (plugin === undefined || !/LoadError|MODULE_NOT_FOUND/u.test(`${warning.message} ${warning.code ?? ''}`)) {
    return undefined
  }
  const task = field(detail, 'task')
  const command = /\((.+)\)/u.exec(task ?? '')?.[1]
  const reason = (field(detail, 'message') ?? warning.message).replace(/^\[\w+\] /u, '').split('\n', 1)[0]
  const what = command === undefined ? 'it cannot load' : `its command '${command}' cannot load`
  return `${bin}: plugin ${plugin} is broken, ${what} (${reason}); remove it with: ${bin} plugins uninstall ${plugin}`
}

/**
 * Replaces Node's default warning printer: plugin load failures become one line per plugin; every other
 * warning prints as Node prints it.
 */
export function reportPluginProblems(bin = 'iss'): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning: PluginWarning) => {
    const line = brokenPluginLine(bin, warning)
    if (line === undefined) {
      process.stderr.write(`(node:${process.pid}) ${warning.name}: ${warning.message}\n`)
      return
    }
    const plugin = field(warning.detail ?? '', 'plugin')!
    const command = /\((.+)\)/u.exec(field(warning.detail ?? '', 'task') ?? '')?.[1]
    if (command !== undefined) brokenCommands.set(command, plugin)
    if (reported.has(plugin)) return
    reported.add(plugin)
    process.stderr.write(line + '\n')
  })
}
