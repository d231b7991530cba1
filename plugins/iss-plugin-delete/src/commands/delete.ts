import {Args, ExitCode, isIssError, ProtocolCommand, validateImageName} from 'image-sharing-service'

/**
 * One name's outcome, as `iss delete --json` prints it: the per-item shape every iss client command uses
 * (status, source, code, message) plus the stored name that was removed.
 */
export interface DeleteResult {
  /** The name as given. */
  name: string
  /** `ok` once the server has removed it; `skipped` if a failure of the whole command came first. */
  status: 'ok' | 'error' | 'skipped'
  /** The stored name that was removed (its case may differ from `name`), or null. */
  deleted: string | null
  source: 'local' | 'server' | 'connection' | null
  /** An iss error code (E_NOT_FOUND...) on failure, else null. */
  code: string | null
  message: string | null
}

export default class Delete extends ProtocolCommand<typeof Delete> {
  static override summary = 'Delete images from an iss server.'

  static override description =
    'Needs iss-plugin-delete where the server runs too. Names match case-insensitively. One line per name; ' +
    'a failing name does not stop the others. Exit codes: 0 all deleted, 1 the server refused one, 2 a name ' +
    'is invalid, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'Delete one image.'},
    {command: '<%= config.bin %> <%= command.id %> a.png b.jpg --json', description: 'Several, as JSON.'},
  ]

  static override args = {
    name: Args.string({description: 'Names of stored images.', required: true}),
  }

  static override strict = false

  async run(): Promise<{results: DeleteResult[]}> {
    const results: DeleteResult[] = this.argList.map((name) => ({
      name,
      status: 'skipped',
      deleted: null,
      source: null,
      code: null,
      message: null,
    }))
    this.partialResult = {results}
    await this.performEach(results, async (result) => {
      let valid: string
      try {
        valid = validateImageName(result.name)
      } catch (error) {
        if (!isIssError(error)) throw error
        const failure = {source: 'local' as const, code: error.code, message: error.message}
        this.itemFailed(result, result.name, {...failure, exitCode: ExitCode.LOCAL_ERROR})
        return
      }

      const response = await this.request({COMMAND: 'DELETE', FILENAME: valid})
      if (response.STATUS === 'OK') {
        Object.assign(result, {status: 'ok', deleted: response.FILENAME ?? valid})
        this.say(`deleted ${result.deleted}`)
        return
      }
      const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to delete it'
      this.itemFailed(result, result.name, {
        source: 'server',
        code: response.CODE,
        message,
        exitCode: ExitCode.SERVER_ERROR,
      })
    })
    return {results}
  }
}
