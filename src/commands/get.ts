import {Args, Flags} from '@oclif/core'
import {lstat, stat} from 'node:fs/promises'
import path from 'node:path'

import {formatByteSize, parseByteSize} from '../core/byte-size.js'
import {DEFAULT_MAX_SIZE} from '../core/config.js'
import {Download, removePartsOnSignal, sweepStaleParts, TargetExistsError} from '../core/download-target.js'
import {identityKey, validateImageName} from '../core/images/names.js'
import {isIssError} from '../core/errors.js'
import {StreamedBytes} from '../core/protocol/values.js'
import {ExitCode, ProtocolCommand, UsageError} from '../core/protocol-command.js'
import {formatBytes} from '../core/transfer-progress.js'
import {ConnectionError, isConnectionError} from '../core/transport/client-connection.js'

/** One name's outcome, as `--json` prints it. */
export interface GetResult {
  /** The name as given (NFC). */
  name: string
  /** Where the image was (or would have been) written. */
  path: string | null
  status: 'ok' | 'error'
  source: 'local' | 'server' | null
  /** Bytes written. */
  bytes: number
  /** An iss error code (E_NOT_FOUND...) or a local one (E_TARGET_EXISTS...); null on success. */
  code: string | null
  message: string | null
}

export default class Get extends ProtocolCommand<typeof Get> {
  static override summary = 'Download images from an iss server, never leaving a partial file.'

  static override description =
    'Download images from an iss server. Each image streams into a hidden temporary file beside its target and ' +
    'is renamed into place only when complete, so an interrupted download never leaves a partial file under the ' +
    "image's name. Files are written only where you say (never to a path the server names), and an existing " +
    'file is never replaced without --force. Exit codes: 0 all downloaded, 1 the server refused one, 2 a local ' +
    'check failed, 3 connection or protocol failure, 130/143 interrupted by SIGINT/SIGTERM.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'Download into the current folder.'},
    {command: '<%= config.bin %> <%= command.id %> cat.jpg dog.png -o ~/Pictures', description: 'Into a folder.'},
    {
      command: '<%= config.bin %> <%= command.id %> cat.jpg -o /tmp/kitty.jpg --force',
      description: 'To a file, replacing it.',
    },
    {command: '<%= config.bin %> <%= command.id %> cat.jpg --json', description: 'Machine-readable results.'},
  ]

  static override args = {
    name: Args.string({description: 'Names of stored images (compared case-insensitively).', required: true}),
  }

  static override flags = {
    output: Flags.string({
      char: 'o',
      summary: 'Folder to download into, or a file name when downloading one image. Default: the current folder.',
    }),
    force: Flags.boolean({char: 'f', default: false, summary: 'Replace existing files.'}),
    'max-size': Flags.custom<number>({
      default: DEFAULT_MAX_SIZE,
      defaultHelp: async () => formatByteSize(DEFAULT_MAX_SIZE),
      async parse(input) {
        // oclif exits 1 on a flag's parse error unless the error says otherwise; a usage error is 2.
        const usage = (message: string) => Object.assign(new Error(message), {oclif: {exit: ExitCode.LOCAL_ERROR}})
        let bytes: number
        try {
          bytes = parseByteSize(input)
        } catch (error) {
          throw usage((error as Error).message)
        }
        if (bytes < 1) throw usage('--max-size must be at least 1 byte')
        return bytes
      },
      summary: 'Largest image accepted (bytes, or 256MiB, 1GiB...); a larger answer is refused as it is announced.',
    })(),
  }

  static override strict = false

  async run(): Promise<{results: GetResult[]}> {
    const {directory, file} = await this.resolveOutput()
    const results = await Promise.all(this.argList.map(async (name) => this.checkName(name, file, directory)))
    this.partialResult = {results}
    const seen = new Set<string>()
    for (const result of results) {
      if (result.status !== 'ok' || result.path === null) continue
      if (seen.has(result.path)) this.markFailed(result, 'local', 'E_USAGE', `${result.name} is named twice`)
      seen.add(result.path)
    }
    for (const result of results) {
      if (result.status === 'error') this.reportFailure(result, ExitCode.LOCAL_ERROR)
    }

    const pending = results.filter((result) => result.status === 'ok')
    if (pending.length > 0) {
      await sweepStaleParts(directory)
      const uninstall = removePartsOnSignal()
      try {
        for (const result of pending) await this.download(result)
      } finally {
        uninstall()
      }
    }

    return {results}
  }

  private async download(result: GetResult): Promise<void> {
    const target = result.path!
    const download = await Download.start(target)
    try {
      const response = await this.request(
        {COMMAND: 'GET', FILENAME: result.name},
        {sink: download.sink, label: result.name},
      )
      if (response.STATUS === 'ERROR') {
        await download.discard()
        this.markFailed(result, 'server', response.CODE, detailsText(response.DETAILS))
        this.reportFailure(result, ExitCode.SERVER_ERROR)
        return
      }
      const data = response.FILE_DATA
      const received = data instanceof StreamedBytes || Buffer.isBuffer(data) ? data.length : null
      if (received === null || received !== download.bytes) {
        throw new ConnectionError(
          'protocol',
          this.address,
          `${this.address} answered GET ${result.name} without its data`,
        )
      }
      // FILENAME is never used as a path; a stored name that differs only in case is the same image.
      if (response.FILENAME !== null && identityKey(response.FILENAME) !== identityKey(result.name)) {
        throw new ConnectionError(
          'protocol',
          this.address,
          `${this.address} answered GET ${result.name} with another file (${JSON.stringify(response.FILENAME)})`,
        )
      }
      await download.publish(this.flags.force)
      result.bytes = download.bytes
      this.log(`${result.name}: saved to ${target} (${formatBytes(download.bytes)})`)
    } catch (error) {
      await download.discard()
      if (error instanceof TargetExistsError) {
        this.markFailed(result, 'local', error.code, error.message)
        this.reportFailure(result, ExitCode.LOCAL_ERROR)
        return
      }
      if (isConnectionError(error) || (error as {exitCode?: number}).exitCode !== undefined) throw error
      // A local write failure (disk full, permissions) fails this image; the others go on.
      this.markFailed(result, 'local', (error as {code?: string}).code ?? 'E_LOCAL_WRITE', (error as Error).message)
      this.reportFailure(result, ExitCode.LOCAL_ERROR)
    }
  }

  /** The folder the downloads go into, and the file name when -o names one. */
  private async resolveOutput(): Promise<{directory: string; file?: string}> {
    const output = this.flags.output
    if (output === undefined) return {directory: process.cwd()}
    const stats = await stat(output).catch(() => undefined)
    if (stats?.isDirectory()) return {directory: path.resolve(output)}
    if (output.endsWith('/') || output.endsWith(path.sep)) throw new UsageError(`no such folder: ${output}`)
    if (this.argList.length > 1) {
      throw new UsageError(`-o ${output} is not a folder; with several names, -o must name an existing folder`)
    }
    const directory = path.dirname(path.resolve(output))
    const parent = await stat(directory).catch(() => undefined)
    if (!parent?.isDirectory()) throw new UsageError(`no such folder: ${path.dirname(output)}`)
    return {directory, file: path.resolve(output)}
  }

  private async checkName(typed: string, file: string | undefined, directory: string): Promise<GetResult> {
    const result: GetResult = {name: typed, path: null, status: 'ok', source: null, bytes: 0, code: null, message: null}
    try {
      result.name = validateImageName(typed)
    } catch (error) {
      if (!isIssError(error)) throw error
      return this.markFailed(result, 'local', error.code, error.message)
    }
    result.path = file ?? path.join(directory, result.name)
    const existing = await lstat(result.path).catch(() => undefined)
    if (existing?.isDirectory())
      return this.markFailed(result, 'local', 'E_TARGET_EXISTS', `${result.path} is a folder`)
    if (existing !== undefined && !this.flags.force) {
      return this.markFailed(result, 'local', 'E_TARGET_EXISTS', new TargetExistsError(result.path).message)
    }
    return result
  }

  private markFailed(result: GetResult, source: 'local' | 'server', code: string | null, message: string): GetResult {
    return Object.assign(result, {status: 'error', source, code, message})
  }

  private reportFailure(result: GetResult, exitCode: number): void {
    this.recordExitCode(exitCode)
    if (!this.jsonEnabled()) process.stderr.write(`${result.name}: ${result.message}\n`)
  }
}

function detailsText(details: string | string[] | null): string {
  if (details === null) return 'the server refused the request'
  return typeof details === 'string' ? details : details.join(', ')
}
