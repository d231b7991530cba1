import {Args, ExitCode, isIssError, ProtocolCommand, validateImageName} from 'image-sharing-service'

/** What `iss rename --json` prints: the per-item shape every iss client command uses, plus the new stored name. */
export interface RenameResult {
  /** The name as given. */
  name: string
  /** The new name as given. */
  to: string
  status: 'ok' | 'error' | 'skipped'
  /** The new stored name the server answered with, or null. */
  renamed: string | null
  source: 'local' | 'server' | 'connection' | null
  /** An iss error code (E_NOT_FOUND, E_DUPLICATE, E_CONTENT_MISMATCH...) on failure, else null. */
  code: string | null
  message: string | null
}

export default class Rename extends ProtocolCommand<typeof Rename> {
  static override summary = 'Give a stored image another name on an iss server.'

  static override description =
    'Needs iss-plugin-rename where the server runs too. FROM matches case-insensitively; TO must be free (an ' +
    'image is never replaced) and of the same type as the image (a PNG cannot become a .jpg). Atomic: a GET ' +
    'finds the image under one name or the other. Exit codes: 0 renamed, 1 the server refused, 2 a name is ' +
    'invalid, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg kitten.jpg', description: 'Rename one image.'},
    {command: '<%= config.bin %> <%= command.id %> a.png b.png --json', description: 'As JSON.'},
  ]

  static override args = {
    from: Args.string({description: 'Name of a stored image.', required: true}),
    to: Args.string({description: 'Its new name.', required: true}),
  }

  async run(): Promise<{results: RenameResult[]}> {
    const result: RenameResult = {
      name: this.args.from,
      to: this.args.to,
      status: 'skipped',
      renamed: null,
      source: null,
      code: null,
      message: null,
    }
    const results = [result]
    this.partialResult = {results}
    await this.performEach(results, async (item) => {
      let from: string
      let to: string
      try {
        from = validateImageName(item.name)
        to = validateImageName(item.to)
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

      const response = await this.request({COMMAND: 'RENAME', FILENAME: from, DETAILS: to})
      if (response.STATUS === 'OK') {
        Object.assign(item, {status: 'ok', renamed: response.FILENAME ?? to})
        this.say(`renamed ${from} to ${item.renamed}`)
        return
      }

      const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to rename it'
      this.itemFailed(item, item.name, {
        source: 'server',
        code: response.CODE,
        message,
        exitCode: ExitCode.SERVER_ERROR,
      })
    })
    return {results}
  }
}
