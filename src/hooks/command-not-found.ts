import {type Hook, toConfiguredId} from '@oclif/core'

import {nearest} from '../core/did-you-mean.js'
import {brokenCommandPlugin} from '../core/plugin-problems.js'
import {printable} from '../core/printable.js'

/**
 * An unknown command: one line on stderr (none more for a command whose plugin failed to load), with a suggestion for a near miss, whether or not stdin is a
 * terminal (no prompt), naming only the command words (not its arguments); exit 2, a usage error.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const {config} = options
  // The command exists but its plugin is broken: the one line naming the plugin and its removal is out.
  if ((await brokenCommandPlugin(options.id)) !== undefined) this.exit(2)
  const visible = config.commands.filter((command) => !command.hidden)
  const ids = [...visible.map((command) => command.id), ...visible.flatMap((command) => command.aliases)]
  // With a space as topic separator oclif joins every word into the id: `gte cat.jpg` arrives as `gte:cat.jpg`.
  // The typo is the first word that does not continue a known topic (`plugins instal x` -> `plugins instal`).
  const words = options.id.split(':')
  let known = 0
  while (known < words.length - 1 && config.findTopic(words.slice(0, known + 1).join(':')) !== undefined) known++
  const typed = words.slice(0, known + 1).join(':')
  const guess = nearest(typed, ids)
  const shown = printable(toConfiguredId(typed, config), 80)
  const suggestion =
    guess === undefined
      ? `run '${config.bin} help' for the list of commands`
      : `did you mean '${config.bin} ${toConfiguredId(guess, config)}'?`
  process.stderr.write(`${config.bin}: '${shown}' is not an ${config.bin} command; ${suggestion}\n`)
  this.exit(2)
}

export default hook
