import {Args, Flags} from '@oclif/core'
import {createHash} from 'node:crypto'
import {open, stat} from 'node:fs/promises'
import path from 'node:path'

import type {BatchSummary} from '../core/batch/batch-report.js'
import {putBatchFlags} from '../core/batch/batch-flags.js'
import {startBatch} from '../core/batch/batch-run.js'
import {mapBounded} from '../core/batch/bounded-map.js'
import {planPut} from '../core/batch/folder-walk.js'
import {markNameCollisions} from '../core/batch/name-collisions.js'
import {localReason, serverRefusalText} from '../core/client-failure.js'
import {isIssError} from '../core/errors.js'
import {familyOf, validateImageName} from '../core/images/names.js'
import {matchesFamily, SNIFF_BYTES} from '../core/images/sniff.js'
import {ExitCode, type ItemResult, ProtocolCommand, UsageError} from '../core/protocol-command.js'
import {digestIn, fileSha256, hashingStream, SHA256_PLACEHOLDER} from '../core/transfer-digest.js'
import {formatBytes} from '../core/transfer-progress.js'
import {isConnectionError} from '../core/transport/client-connection.js'
import {type FileSnapshot, verifiedFileStream} from '../core/verified-file-stream.js'

/** One file's outcome, as `--json` prints it: `ok` only once the server has stored it. */
export interface PutResult extends ItemResult {
  /** The path as given on the command line. */
  file: string
  /** The name sent to the server (NFC of the base name or of --name), or null when the name was refused. */
  name: string | null
  /** Bytes sent (the file size). */
  bytes: number
}

interface Checked {
  result: PutResult
  /** The file as checked: what is streamed must still be exactly this. */
  snapshot?: FileSnapshot
}

/** What to do about a name the rules refuse: the file can go under another name. */
const RENAME_HINT = 'send it under another name with --name NEW.png'

export default class Put extends ProtocolCommand<typeof Put> {
  static override summary = 'Upload JPEG and PNG images to an iss server.'

  static override description =
    'Each file is checked locally first (exists, is a regular file, ' +
    'has a .jpg, .jpeg or .png extension, is not empty, starts like its type), then streams from disk over one ' +
    'connection. One line per file; a failing file does not stop the others. Exit codes: 0 all uploaded, 1 the ' +
    'server refused one, 2 a local check failed, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %> cat.jpg', description: 'Upload one image to the local server.'},
    {
      command: '<%= config.bin %> <%= command.id %> photos/*.png -H images.example.net -p 9595',
      description: 'Upload many.',
    },
    {
      command: "<%= config.bin %> <%= command.id %> 'Screenshot from 2024-05-01 10:00:00.png' --name screenshot.png",
      description: 'Upload one file under another name.',
    },
    {command: '<%= config.bin %> <%= command.id %> cat.jpg --json', description: 'Machine-readable results.'},
  ]

  static override args = {
    file: Args.string({
      description: 'Image files (.jpg, .jpeg, .png) or folders of them to upload.',
      required: true,
    }),
  }

  static override flags = {
    name: Flags.string({
      char: 'n',
      summary: 'Store the file under this name instead of its own (one FILE only).',
    }),
    ...putBatchFlags,
    'skip-identical': Flags.boolean({
      default: false,
      summary:
        'A name already stored with the same bytes (same SHA-256) counts as done ("identical"), not as an error.',
    }),
  }

  static override strict = false

  async run(): Promise<{results: PutResult[]; summary?: BatchSummary}> {
    const rename = this.flags.name
    // Folders become the image files they hold (src/core/batch/folder-walk.ts); other arguments stay as given.
    const plan = await planPut(this.argList, this.flags.recursive)
    if (rename !== undefined && (this.argList.length > 1 || plan.hadFolder)) {
      throw new UsageError(`--name ${rename}: gives one file a name; ${plan.files.length} files were given`)
    }
    const checked = await mapBounded(plan.files, 16, async (file) => checkLocalFile(file, rename))
    const results = checked.map((item) => item.result)
    markNameCollisions(results)
    this.partialResult = {results}
    for (const {result} of checked) {
      if (result.status !== 'error') continue
      this.itemFailed(result, result.file, {
        source: 'local',
        code: result.code,
        message: result.message!,
        exitCode: ExitCode.LOCAL_ERROR,
      })
    }

    const snapshots = new Map(checked.map(({result, snapshot}) => [result, snapshot]))
    const batch = startBatch({
      active: plan.hadFolder || this.flags.parallel !== undefined,
      parallel: this.flags.parallel,
      json: this.jsonEnabled(),
      results,
      notSent: plan.skipped.map(({file, reason}) => notSent(file, reason)),
      label: (result) => result.name ?? result.file,
      verb: 'sent',
      totalBytes: results.reduce((sum, result) => sum + (result.status === 'skipped' ? result.bytes : 0), 0),
    })
    if (plan.subfolders > 0 && !this.jsonEnabled())
      process.stderr.write(`iss: ${plan.subfolders} subfolder(s) not sent (add --recursive to send them)\n`)
    await this.performEach(results, async (result) => this.upload(result, snapshots.get(result)!), batch?.lanes)
    return batch?.finish() ?? {results}
  }

  private async upload(result: PutResult, snapshot: FileSnapshot): Promise<void> {
    const name = result.name!
    try {
      // The digest always goes with the data: known up front with --skip-identical (hashed first, to compare
      // with a duplicate's), else computed while sending and written after FILE_DATA.
      const known = this.flags['skip-identical'] ? await fileSha256(result.file) : undefined
      const hash = createHash('sha256')
      const stream = verifiedFileStream(result.file, snapshot)
      const response = await this.request(
        known === undefined
          ? {COMMAND: 'PUT', FILENAME: name, trailing: {SHA256: SHA256_PLACEHOLDER}}
          : {COMMAND: 'PUT', FILENAME: name, extra: {SHA256: known}},
        {
          fileData:
            known === undefined
              ? {
                  length: snapshot.size,
                  stream: hashingStream(stream, hash),
                  trailer: () => ({SHA256: hash.digest('hex')}),
                }
              : {length: snapshot.size, stream},
          label: name,
        },
      )
      if (response.STATUS === 'OK') {
        result.status = 'ok'
        this.say(`${result.file}: uploaded as ${name} (${formatBytes(snapshot.size)})`)
        return
      }
      if (known !== undefined && response.CODE === 'E_DUPLICATE' && digestIn(response.extra) === known) {
        result.status = 'identical'
        this.say(`${result.file}: identical to ${name} on the server (same SHA-256), not sent again`)
        return
      }
      let message = serverRefusalText(detailsText(response.DETAILS))
      if (response.CODE === 'E_BAD_NAME') message += ` (${RENAME_HINT})`
      this.itemFailed(result, result.file, {
        source: 'server',
        code: response.CODE,
        message,
        // The bytes were damaged on the way: an integrity failure, like a connection's.
        exitCode: response.CODE === 'E_DIGEST_MISMATCH' ? ExitCode.CONNECTION : ExitCode.SERVER_ERROR,
      })
    } catch (error) {
      if (isConnectionError(error) || !(error instanceof Error)) throw error
      if ((error as {exitCode?: number}).exitCode !== undefined) throw error
      // A local read failure (the file vanished, shrank, grew or changed): this file failed, nothing of it
      // was stored (the frame was cut short), and the others go on.
      this.itemFailed(result, result.file, {
        source: 'local',
        code: (error as {code?: string}).code ?? 'E_LOCAL_READ',
        message: error.message,
        exitCode: ExitCode.LOCAL_ERROR,
      })
    }
  }
}

/** A folder's entry that is not sent (not an image, hidden): `skipped`, with why. */
function notSent(file: string, reason: string): PutResult {
  return {file, name: null, status: 'skipped', source: null, bytes: 0, code: null, message: reason}
}

function detailsText(details: string | string[] | null): string {
  if (details === null) return 'the server refused the file'
  return typeof details === 'string' ? details : details.join(', ')
}

/** The seed's local checks, plus the content sniff, before anything is sent. */
async function checkLocalFile(file: string, rename: string | undefined): Promise<Checked> {
  const result: PutResult = {file, name: null, status: 'skipped', source: null, bytes: 0, code: null, message: null}
  const fail = (code: string, message: string): Checked => {
    Object.assign(result, {status: 'error', source: 'local', code, message})
    return {result}
  }

  // A folder (one with no image in it reaches here) is said as such, before its name is judged as an image's.
  if ((await stat(file).catch(() => null))?.isDirectory() === true) {
    return fail('E_LOCAL_NOT_FILE', 'a folder with no .jpg, .jpeg or .png file in it (subfolders need --recursive)')
  }

  try {
    result.name = validateImageName(rename ?? path.basename(file))
  } catch (error) {
    if (!isIssError(error)) throw error
    const reason = localReason(error)
    const hint = error.code === 'E_BAD_NAME' && rename === undefined ? ` (${RENAME_HINT})` : ''
    return fail(error.code, rename === undefined ? reason + hint : `--name ${rename}: ${reason}`)
  }

  let handle
  try {
    handle = await open(file, 'r')
  } catch (error) {
    const {code, message} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') return fail('E_LOCAL_NOT_FOUND', 'no such file')
    if (code === 'EISDIR') return fail('E_LOCAL_NOT_FILE', 'not a regular file')
    return fail('E_LOCAL_READ', `cannot read it: ${message}`)
  }
  try {
    const stats = await handle.stat()
    if (stats.isDirectory())
      return fail('E_LOCAL_NOT_FILE', 'a folder with no .jpg, .jpeg or .png file in it (subfolders need --recursive)')
    if (!stats.isFile()) return fail('E_LOCAL_NOT_FILE', 'not a regular file')
    if (stats.size === 0) return fail('E_EMPTY', 'empty file')

    const family = familyOf(result.name)
    if (family === null) return fail('E_UNSUPPORTED_TYPE', 'not a .jpg, .jpeg or .png name')
    const buffer = Buffer.alloc(SNIFF_BYTES)
    const {bytesRead} = await handle.read(buffer, 0, SNIFF_BYTES, 0)
    if (!matchesFamily(buffer.subarray(0, bytesRead), family, stats.size))
      return fail('E_CONTENT_MISMATCH', `not ${family} data`)

    result.bytes = stats.size
    return {result, snapshot: {size: stats.size, mtimeMs: stats.mtimeMs}}
  } catch (error) {
    return fail('E_LOCAL_READ', `cannot read it: ${(error as Error).message}`)
  } finally {
    await handle.close()
  }
}
