import {Args} from '@oclif/core'

import {ConfigCommand} from '../../core/config-command.js'
import {ExitCode} from '../../core/errors.js'
import {readConfig} from '../../core/profiles.js'

export default class ConfigGet extends ConfigCommand {
  static override summary = 'Print one setting of a profile (exit 1 when it is not set, as git config does).'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> host', description: 'From the default profile.'},
    {command: '<%= config.bin %> <%= command.id %> token --profile work', description: 'From the profile "work".'},
  ]

  static override args = {
    key: Args.string({description: 'Flag name (host, port, ...).', required: true}),
  }

  async run(): Promise<{profile: string; key: string; value: string | null}> {
    const {args, flags} = await this.parse(ConfigGet)
    const profile = this.profileName(flags)
    const {profiles} = await readConfig(this.config.configDir)
    const value = profiles[profile]?.[args.key] ?? null
    if (value === null) {
      if (!this.jsonEnabled()) process.stderr.write(`iss: ${args.key} is not set in profile ${profile}\n`)
      process.exitCode = ExitCode.SERVER_ERROR
    } else if (!this.jsonEnabled()) {
      this.log(value)
    }
    return {profile, key: args.key, value}
  }
}
