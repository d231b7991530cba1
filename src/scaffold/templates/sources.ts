/* eslint-disable unicorn/no-incorrect-template-string-interpolation -- these templates are TypeScript source: `{results}` is an object literal in it */
import type {PluginPlan} from '../plan.js'

// The generated TypeScript follows docs/plugins.md section 3: the SDK from `image-sharing-service`
// only, dependencies as explicit DI tokens, one line per failure in the client.

/** src/commands/<id>.ts: the client command `iss <id> NAME`. */
export function commandSource(plan: PluginPlan): string {
  return `import {Args, ExitCode, isIssError, ProtocolCommand, validateImageName} from 'image-sharing-service'

/** What \`iss ${plan.id} --json\` prints: the per-item shape every iss client command uses. */
export interface ${plan.className}Result {
  /** The name as given. */
  name: string
  status: 'ok' | 'error' | 'skipped'
  /** The stored name the server answered with, or null. */
  stored: string | null
  /** The server's DETAILS on success. */
  details: string | null
  source: 'local' | 'server' | 'connection' | null
  /** An iss error code (E_NOT_FOUND...) on failure, else null. */
  code: string | null
  message: string | null
}

export default class ${plan.className} extends ProtocolCommand<typeof ${plan.className}> {
  static override summary = 'Send ${plan.verb} for a stored image to an iss server.'

  static override description =
    'Needs ${plan.name} where the server runs too. Names match case-insensitively. Exit codes: 0 done, ' +
    '1 the server refused, 2 the name is invalid, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'One image.'},
    {command: '<%= config.bin %> <%= command.id %> cat.jpg --json', description: 'As JSON.'},
  ]

  static override args = {
    name: Args.string({description: 'Name of a stored image.', required: true}),
  }

  async run(): Promise<{results: ${plan.className}Result[]}> {
    const result: ${plan.className}Result = {
      name: this.args.name,
      status: 'skipped',
      stored: null,
      details: null,
      source: null,
      code: null,
      message: null,
    }
    const results = [result]
    this.partialResult = {results}
    await this.performEach(results, async (item) => {
      let name: string
      try {
        name = validateImageName(item.name)
      } catch (error) {
        if (!isIssError(error)) throw error
        this.itemFailed(item, item.name, {
          source: 'local',
          code: error.code,
          message: error.message,
          exitCode: ExitCode.LOCAL_ERROR,
        })
        return
      }

      const response = await this.request({COMMAND: '${plan.verb}', FILENAME: name})
      const details = typeof response.DETAILS === 'string' ? response.DETAILS : null
      if (response.STATUS === 'OK') {
        Object.assign(item, {status: 'ok', stored: response.FILENAME ?? name, details})
        this.say(\`\${item.stored}: \${details ?? ''}\`)
        return
      }

      this.itemFailed(item, item.name, {
        source: 'server',
        code: response.CODE,
        message: details ?? 'the server refused ${plan.verb}',
        exitCode: ExitCode.SERVER_ERROR,
      })
    })
    return {results}
  }
}
`
}

/** src/handlers/<id>.ts: the server's handler for the COMMAND. */
export function handlerSource(plan: PluginPlan): string {
  return `import {
  type CommandHandler,
  errors,
  type HandlerRequest,
  type HandlerResponse,
  type ImageStore,
  Tokens,
  validateImageName,
} from 'image-sharing-service'

/**
 * ${plan.verb}: FILENAME names a stored image (matched case-insensitively, like every iss command); the
 * answer's FILENAME is its stored name and DETAILS its size. Declared in package.json with scope
 * \`${plan.scope}\`: only tokens with that scope (or a higher one) may send it.
 *
 * Replace the body with what ${plan.verb} does. A handler that gives bytes a name (commit, rename) calls
 * \`assertContentMatchesName\` first; one that takes FILE_DATA adds \`accept(head)\` (docs/plugins.md).
 */
export default class ${plan.className}Handler implements CommandHandler {
  // The constructor's dependencies, in order, as DI tokens: this works whatever compiles the file.
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a ${plan.verb} needs a FILENAME')
    const name = validateImageName(request.filename)
    const image = await this.store.stat(name)
    if (image === null) throw errors.notFound(name)
    return {filename: image.name, details: \`\${image.size} bytes\`}
  }
}
`
}

/** src/events/log-image-events.ts: appends one line per image event to a log file. */
export function subscriberSource(plan: PluginPlan): string {
  return `import {appendFile} from 'node:fs/promises'

import type {EventSubscriber} from 'image-sharing-service'

type ImageEvent = 'image.published' | 'image.deleted' | 'image.renamed'

/** The log file: $${plan.logEnv}, else ${plan.name.replace(/^@[^/]+\//u, '')}-events.log in the server's working folder. */
export function logFile(): string {
  return process.env.${plan.logEnv} ?? '${plan.name.replace(/^@[^/]+\//u, '')}-events.log'
}

/**
 * One line per image event: \`<ISO time> <event> <name>\`, or \`<from> -> <to>\` for a rename. Declared for
 * the three image events in package.json ("iss.events"). The server calls it after the change is durable
 * and the answer is on its way; what it throws is logged and changes no answer.
 */
const logImageEvent: EventSubscriber<ImageEvent> = async (payload, {event}) => {
  const what = 'from' in payload ? \`\${payload.from.name} -> \${payload.to.name}\` : payload.image.name
  await appendFile(logFile(), \`\${new Date().toISOString()} \${event} \${what}\\n\`)
}

export default logImageEvent
`
}
