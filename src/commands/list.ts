import {ExitCode, ProtocolCommand} from '../core/protocol-command.js'

/** What `iss list --json` prints. */
export interface ListResult {
  /** Stored names, in the server's order (sorted by identity key on an iss server). */
  names: string[]
  /** The server's message when it sent one instead of names (an empty store), else null. */
  message: string | null
  /** Present when the server answered ERROR. */
  error?: {code: string | null; message: string}
}

export default class List extends ProtocolCommand<typeof List> {
  static override summary = 'List the images stored on an iss server.'

  static override description =
    "List the images stored on an iss server, one name per line. For an empty store, prints the server's message. " +
    'Exit codes: 0 listed, 1 the server answered ERROR, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List the images on the local server.'},
    {command: 'ISS_HOST=images.example.net <%= config.bin %> <%= command.id %>', description: 'On another server.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'As JSON: {"names": [...], "message": null}.'},
  ]

  // A listing carries no image: 16 MiB of FILE_DATA allows a 32 MiB frame, about a million names.
  protected override defaultMaxSize = 16 * 1024 * 1024

  async run(): Promise<ListResult> {
    const response = await this.request({COMMAND: 'LIST'})
    if (response.STATUS === 'ERROR') {
      const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to list'
      this.recordExitCode(ExitCode.SERVER_ERROR)
      if (!this.jsonEnabled()) process.stderr.write(`iss: ${message}\n`)
      return {names: [], message: null, error: {code: response.CODE, message}}
    }
    if (Array.isArray(response.DETAILS)) {
      for (const name of response.DETAILS) this.log(name)
      return {names: response.DETAILS, message: null}
    }
    const message = response.DETAILS ?? ''
    if (message !== '') this.log(message)
    return {names: [], message: response.DETAILS}
  }
}
