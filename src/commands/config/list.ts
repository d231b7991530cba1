import {ConfigCommand, SECRET_KEYS} from '../../core/config-command.js'
import {configPath, type Profile, readConfig} from '../../core/profiles.js'

/** Shown instead of a secret value. */
const MASK = '********'

export default class ConfigList extends ConfigCommand {
  static override summary = 'Show the profiles and their settings (tokens masked).'

  static override description =
    'One `profile.key=value` line per setting, sorted; with --profile, only that profile. Tokens are shown as ' +
    `${MASK} (iss config get token prints one).`

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Every profile.'},
    {command: '<%= config.bin %> <%= command.id %> --profile work --json', description: 'One profile, as JSON.'},
  ]

  async run(): Promise<{file: string; profiles: Record<string, Profile>}> {
    const {flags} = await this.parse(ConfigList)
    const {profiles} = await readConfig(this.config.configDir)
    const shown: Record<string, Profile> = {}
    const names = flags.profile === undefined ? Object.keys(profiles).sort() : [this.profileName(flags)]
    for (const name of names) {
      const values = profiles[name] ?? {}
      shown[name] = Object.fromEntries(
        Object.keys(values)
          .sort()
          .map((key) => [key, SECRET_KEYS.has(key) ? MASK : values[key]]),
      )
    }
    if (!this.jsonEnabled()) {
      for (const [name, values] of Object.entries(shown)) {
        for (const [key, value] of Object.entries(values)) this.log(`${name}.${key}=${value}`)
      }
    }
    return {file: configPath(this.config.configDir), profiles: shown}
  }
}
