import {Args} from '@oclif/core'
import {createReadStream} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import path from 'node:path'

import {familyOf, validateImageName} from '../core/images/names.js'
import {matchesFamily, SNIFF_BYTES} from '../core/images/sniff.js'
import {isIssError} from '../core/errors.js'
import {ExitCode, ProtocolCommand} from '../core/protocol-command.js'
import {formatBytes} from '../core/transfer-progress.js'
import {isConnectionError} from '../core/transport/client-connection.js'

/** One file's outcome, as `--json` prints it. */
export interface PutResult {
  /** The path as given on the command line. */
  file: string
  /** The name sent to the server (NFC of the base name), or null when the name itself was refused. */
  name: string | null
  status: 'ok' | 'error'
  /** Where a failure was found: the local checks or the server. Null on success. */
  source: 'local' | 'server' | null
  /** Bytes sent (the file size). */
  bytes: number
  /** An iss error code (E_DUPLICATE...) or a local one (E_LOCAL_NOT_FOUND...); null on success. */
  code: string | null
  /** The server's DETAILS or the local check's message; null on success. */
  message: string | null
}

interface Checked {
  result: PutResult
  size: number
}

export default class Put extends ProtocolCommand<typeof Put> {
  static override summary = 'Upload JPEG and PNG images to an iss server.'

  static override description =
    'Upload JPEG and PNG images to an iss server. Each file is checked locally first (exists, is a regular file, ' +
    'has a .jpg, .jpeg or .png extension, is not empty, starts like its type), then streams from disk over one ' +
    'connection. One line per file; a failing file does not stop the others. Exit codes: 0 all uploaded, 1 the ' +
    'server refused one, 2 a local check failed, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'Upload one image to the local server.'},
    {
      command: '<%= config.bin %> <%= command.id %> photos/*.png -H images.example.net -p 9595',
      description: 'Upload many.',
    },
    {command: '<%= config.bin %> <%= command.id %> cat.jpg --json', description: 'Machine-readable results.'},
  ]

  static override args = {
    file: Args.string({description: 'Image files to upload (.jpg, .jpeg, .png).', required: true}),
  }

  static override strict = false

  async run(): Promise<{results: PutResult[]}> {
    const checked = await Promise.all(this.argList.map(async (file) => checkLocalFile(file)))
    const results = checked.map((item) => item.result)
    this.partialResult = {results}
    for (const {result} of checked) {
      if (result.status === 'error') this.reportFailure(result, ExitCode.LOCAL_ERROR)
    }

    for (const {result, size} of checked) {
      if (result.status === 'error') continue
      await this.upload(result, size)
    }

    return {results}
  }

  private async upload(result: PutResult, size: number): Promise<void> {
    const name = result.name!
    try {
      const response = await this.request(
        {COMMAND: 'PUT', FILENAME: name},
        {fileData: {length: size, stream: createReadStream(result.file)}, label: name},
      )
      if (response.STATUS === 'OK') {
        this.log(`${result.file}: uploaded as ${name} (${formatBytes(size)})`)
        return
      }
      Object.assign(result, {
        status: 'error',
        source: 'server',
        code: response.CODE,
        message: detailsText(response.DETAILS),
      })
      this.reportFailure(result, ExitCode.SERVER_ERROR)
    } catch (error) {
      if (isConnectionError(error) || !(error instanceof Error)) throw error
      if ((error as {exitCode?: number}).exitCode !== undefined) throw error
      // A local read failure (the file vanished or shrank): this file failed, the others go on.
      Object.assign(result, {status: 'error', source: 'local', code: 'E_LOCAL_READ', message: error.message})
      this.reportFailure(result, ExitCode.LOCAL_ERROR)
    }
  }

  private reportFailure(result: PutResult, exitCode: number): void {
    this.recordExitCode(exitCode)
    if (!this.jsonEnabled()) process.stderr.write(`${result.file}: ${result.message}\n`)
  }
}

function detailsText(details: string | string[] | null): string {
  if (details === null) return 'the server refused the file'
  return typeof details === 'string' ? details : details.join(', ')
}

/** The seed's local checks, plus the content sniff, before anything is sent. */
async function checkLocalFile(file: string): Promise<Checked> {
  const result: PutResult = {file, name: null, status: 'ok', source: null, bytes: 0, code: null, message: null}
  const fail = (code: string, message: string): Checked => {
    Object.assign(result, {status: 'error', source: 'local', code, message})
    return {result, size: 0}
  }

  try {
    result.name = validateImageName(path.basename(file))
  } catch (error) {
    if (isIssError(error)) return fail(error.code, error.message)
    throw error
  }

  const stats = await stat(file).catch((error: unknown) => error as NodeJS.ErrnoException)
  if (stats instanceof Error) {
    return stats.code === 'ENOENT'
      ? fail('E_LOCAL_NOT_FOUND', 'no such file')
      : fail('E_LOCAL_READ', `cannot read it: ${stats.message}`)
  }
  if (!stats.isFile()) return fail('E_LOCAL_NOT_FILE', 'not a regular file')
  if (stats.size === 0) return fail('E_EMPTY', `File '${result.name}' is empty`)

  const family = familyOf(result.name)
  if (family === null) return fail('E_UNSUPPORTED_TYPE', `File '${result.name}' is not a .jpg, .jpeg or .png image`)
  let head: Buffer
  try {
    const handle = await open(file, 'r')
    try {
      const buffer = Buffer.alloc(SNIFF_BYTES)
      const {bytesRead} = await handle.read(buffer, 0, SNIFF_BYTES, 0)
      head = buffer.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  } catch (error) {
    return fail('E_LOCAL_READ', `cannot read it: ${(error as Error).message}`)
  }
  if (!matchesFamily(head, family))
    return fail('E_CONTENT_MISMATCH', `File '${result.name}' does not contain ${family} data`)

  result.bytes = stats.size
  return {result, size: stats.size}
}
