import {Args, Command, Flags} from '@oclif/core'
import path from 'node:path'

import {HANDLER_SCOPES, PlanError, planPlugin} from '../../scaffold/plan.js'
import {writePlugin} from '../../scaffold/write-plugin.js'

export default class PluginsNew extends Command {
  static override summary = 'Write a new command plugin: a client command and a server handler, with a test.'

  static override description =
    'Writes a complete plugin for one protocol COMMAND into a new folder: package.json (the SDK as a peer ' +
    'dependency, the iss declarations with the SDK range and the handler scope), tsconfig.json, the client ' +
    'command, the handler, a README and a mocha test against a real server. Then: cd into it, npm install, ' +
    'npm test, and iss plugins link --no-install . (docs/plugins.md).'

  static override examples = [
    {
      command: '<%= config.bin %> <%= command.id %> iss-plugin-stat --command STAT',
      description: 'iss stat NAME and a STAT handler, in ./iss-plugin-stat.',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> iss-plugin-audit --command AUDIT --scope admin --with-events --dir audit',
      description: 'With an event subscriber that logs each published, deleted and renamed image.',
    },
  ]

  static override args = {
    name: Args.string({description: 'npm package name of the plugin (for example iss-plugin-stat).', required: true}),
  }

  static override flags = {
    command: Flags.string({
      description: 'The protocol COMMAND it adds (for example STAT); the client command is its lower-case form.',
      required: true,
    }),
    dir: Flags.string({description: 'Folder to write into; must not exist or be empty. Default: ./NAME.'}),
    scope: Flags.string({
      description: 'The scope a token needs to send the COMMAND.',
      options: [...HANDLER_SCOPES],
      default: 'read',
    }),
    'with-events': Flags.boolean({
      description: 'Add an event subscriber that appends each published, deleted and renamed image to a log file.',
      default: false,
    }),
    sdk: Flags.string({
      description:
        'npm spec of the SDK dev dependency (used to build and test). Default: this iss, as file:<its folder>.',
    }),
  }

  async run(): Promise<{dir: string; files: string[]}> {
    const {args, flags} = await this.parse(PluginsNew)
    const dir = path.resolve(flags.dir ?? args.name.replace(/^@[^/]+\//u, ''))
    let files: string[]
    try {
      const plan = planPlugin({
        name: args.name,
        command: flags.command,
        scope: flags.scope,
        withEvents: flags['with-events'],
        sdkSpec: flags.sdk,
        hostRoot: this.config.root,
        hostDevDependencies: this.config.pjson.devDependencies,
      })
      this.refuseTakenVerb(plan.verb)
      files = await writePlugin(plan, dir)
      this.log(`wrote ${plan.name} in ${dir}:`)
      for (const file of files) this.log(`  ${file}`)
      this.log(
        `next: cd ${path.relative(process.cwd(), dir) || '.'} && npm install && npm test && ${this.config.bin} plugins link --no-install .`,
      )
    } catch (error) {
      if (!(error instanceof PlanError)) throw error
      // One line, never wrapped or decorated, as every iss command reports a failure.
      process.stderr.write(`${this.config.bin}: ${error.message}\n`)
      this.exit(2)
    }

    return {dir, files}
  }

  /**
   * A verb this iss already has, as a client command (`iss put`) or a served COMMAND (PUT), would make a
   * plugin that every command warns about and that `iss serve` refuses to start with: refuse it here.
   */
  private refuseTakenVerb(verb: string): void {
    const id = verb.toLowerCase().replaceAll('_', '-')
    const served = Object.keys((this.config.pjson as {iss?: {handlers?: object}}).iss?.handlers ?? {})
    if (this.config.findCommand(id) === undefined && !served.includes(verb)) return
    throw new PlanError(
      `--command ${verb}: iss already has it ('${this.config.bin} ${id}'); choose another verb for the plugin`,
    )
  }
}
