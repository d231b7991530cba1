import {Args} from '@oclif/core'

import {ConfigCommand} from '../../core/config-command.js'
import {readConfig, writeConfig} from '../../core/profiles.js'

export default class ConfigUnset extends ConfigCommand {
  static override summary = 'Remove a setting from a profile (a profile left empty is removed).'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> token', description: 'From the default profile.'},
    {command: '<%= config.bin %> <%= command.id %> port --profile work', description: 'From the profile "work".'},
  ]

  static override args = {
    key: Args.string({description: 'Flag name (host, port, ...).', required: true}),
  }

  async run(): Promise<{profile: string; key: string; removed: boolean}> {
    const {args, flags} = await this.parse(ConfigUnset)
    const profile = this.profileName(flags)
    const config = await readConfig(this.config.configDir)
    const values = new Map(Object.entries(config.profiles[profile] ?? {}))
    const removed = values.delete(args.key)
    if (removed) {
      const profiles = new Map(Object.entries(config.profiles))
      if (values.size === 0) profiles.delete(profile)
      else profiles.set(profile, Object.fromEntries(values))
      await writeConfig(this.config.configDir, {profiles: Object.fromEntries(profiles)})
    } else if (!this.jsonEnabled()) {
      process.stderr.write(`iss: ${args.key} was not set in profile ${profile}\n`)
    }
    return {profile, key: args.key, removed}
  }
}
