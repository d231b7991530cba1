import {Args} from '@oclif/core'

import {ConfigCommand} from '../../core/config-command.js'
import {checkProfileValue, type ProfileFlag, readConfig, writeConfig} from '../../core/profiles.js'
import {ProtocolCommand} from '../../core/protocol-command.js'

export default class ConfigSet extends ConfigCommand {
  static override summary = 'Keep a connection setting in a profile.'

  static override description =
    'KEY is the name of a connection flag of the client commands (host, port, timeout, frame-endian, and tls, ca, ' +
    'fingerprint, token where this iss has them). The value is checked as the flag would check it, then written to ' +
    "config.json in iss's config folder (owner-only, 0600). A flag on the command line, then its environment " +
    'variable, win over the profile; the profile wins over the default.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> host images.example.net', description: 'In the default profile.'},
    {command: '<%= config.bin %> <%= command.id %> port 9696 --profile work', description: 'In the profile "work".'},
  ]

  static override args = {
    key: Args.string({description: 'Flag name (host, port, ...).', required: true}),
    value: Args.string({description: 'Its value, as on the command line.', required: true}),
  }

  async run(): Promise<{profile: string; key: string; value: string}> {
    const {args, flags} = await this.parse(ConfigSet)
    const profile = this.profileName(flags)
    const baseFlags = ProtocolCommand.baseFlags as unknown as Record<string, ProfileFlag>
    const value = await checkProfileValue(args.key, args.value, baseFlags, this)
    const config = await readConfig(this.config.configDir)
    config.profiles[profile] = {...config.profiles[profile], [args.key]: value}
    await writeConfig(this.config.configDir, config)
    return {profile, key: args.key, value}
  }
}
