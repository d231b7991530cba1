import {Args, ExitCode, isIssError, ProtocolCommand, validateImageName} from 'image-sharing-service'

/** One name's outcome, as `iss delete --json` prints it. */
export interface DeleteResult {
  /** The name as given. */
  name: string
  status: 'deleted' | 'error'
  /** The stored name that was removed (its case may differ from `name`), or null. */
  deleted: string | null
  /** An iss error code (E_NOT_FOUND...) on failure, else null. */
  code: string | null
  message: string | null
}

export default class Delete extends ProtocolCommand<typeof Delete> {
  static override description =
    'Delete images from an iss server (needs iss-plugin-delete where the server runs too). Names match ' +
    'case-insensitively. One line per name; a failing name does not stop the others. Exit codes: 0 all deleted, ' +
    '1 the server refused one, 2 a name is invalid, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'Delete one image.'},
    {command: '<%= config.bin %> <%= command.id %> a.png b.jpg --json', description: 'Several, as JSON.'},
  ]

  static override args = {
    name: Args.string({description: 'Names of stored images.', required: true}),
  }

  static override strict = false

  async run(): Promise<{results: DeleteResult[]}> {
    const results: DeleteResult[] = []
    this.partialResult = {results}
    for (const name of this.argList) {
      let valid: string
      try {
        valid = validateImageName(name)
      } catch (error) {
        if (!isIssError(error)) throw error
        this.report({name, status: 'error', deleted: null, code: error.code, message: error.message}, results)
        this.recordExitCode(ExitCode.LOCAL_ERROR)
        continue
      }

      const response = await this.request({COMMAND: 'DELETE', FILENAME: valid})
      if (response.STATUS === 'OK') {
        this.report({name, status: 'deleted', deleted: response.FILENAME ?? valid, code: null, message: null}, results)
      } else {
        const message = typeof response.DETAILS === 'string' ? response.DETAILS : `the server refused to delete ${name}`
        this.report({name, status: 'error', deleted: null, code: response.CODE, message}, results)
        this.recordExitCode(ExitCode.SERVER_ERROR)
      }
    }

    return {results}
  }

  private report(result: DeleteResult, results: DeleteResult[]): void {
    results.push(result)
    if (this.jsonEnabled()) return
    if (result.status === 'deleted') this.log(`deleted ${result.deleted}`)
    else process.stderr.write(`iss: ${result.name}: ${result.message}\n`)
  }
}
