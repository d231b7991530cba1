import type {Hook} from '@oclif/core'

import {sdkMismatch} from '../core/sdk-range.js'

/** Plugins present before this install: the check after it looks only at what the install added. */
let installedBefore: Set<string> | null = null

/** plugins:preinstall: remembers what is installed now. */
export const rememberPlugins: Hook<'plugins:preinstall'> = async function () {
  installedBefore = new Set(this.config.getPluginsList().map((plugin) => plugin.name))
}

/**
 * plugins:postinstall: a plugin whose declared SDK range excludes this host is uninstalled again and
 * the install fails with one line naming both versions, rather than failing later in `iss serve`.
 * (oclif gives this hook no plugin name, hence the set taken before the install.)
 */
export const checkInstalledSdk: Hook<'plugins:postinstall'> = async function () {
  const known = installedBefore ?? new Set<string>()
  installedBefore = null
  for (const plugin of this.config.getPluginsList()) {
    // Not by type: oclif marks the plugin it just installed as 'core' until the next start.
    if (known.has(plugin.name) || plugin.name === this.config.name) continue
    const mismatch = sdkMismatch({name: plugin.name, pjson: plugin.pjson as {iss?: unknown}})
    if (mismatch === null) continue
    let removed = true
    try {
      await this.config.runCommand('plugins:uninstall', [plugin.name])
    } catch {
      removed = false
    }

    const outcome = removed
      ? 'so it was not installed'
      : `and could not be removed; remove it with: ${this.config.bin} plugins uninstall ${plugin.name}`
    // One unwrapped line (oclif's error box wraps at 80 columns), so that it reads and greps whole.
    process.stderr.write(
      `${this.config.bin} plugins install: ${mismatch.problem}, ${outcome}. Install ${mismatch.needs}.\n`,
    )
    this.exit(2)
  }
}
