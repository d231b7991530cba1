import {type Hook, toConfiguredId} from '@oclif/core'

/**
 * A plugin command whose id a built-in command already has is never run (oclif prefers iss's own): say so
 * once per run, naming both, instead of ignoring it without a word.
 */
const hook: Hook.Init = async function (options) {
  const {config} = options
  const plugins = config.getPluginsList()
  const root = plugins.find((plugin) => plugin.name === config.name)
  if (root === undefined) return
  const builtIn = new Set(root.commandIDs)
  for (const plugin of plugins) {
    if (plugin === root) continue
    for (const id of plugin.commandIDs) {
      if (!builtIn.has(id)) continue
      const shown = toConfiguredId(id, config)
      process.stderr.write(
        `${config.bin}: plugin ${plugin.name} adds a command '${shown}', which is ${config.bin}'s own ` +
          `'${shown}'; ${config.bin} runs its own. Rename it in ${plugin.name}, or remove the plugin: ` +
          `${config.bin} plugins uninstall ${plugin.name}\n`,
      )
    }
  }
}

export default hook
