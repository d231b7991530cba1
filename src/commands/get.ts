import {Args, Flags} from '@oclif/core'
import {lstat, stat} from 'node:fs/promises'
import path from 'node:path'

import {downloadBatchFlags} from '../core/batch/batch-flags.js'
import {startBatch} from '../core/batch/batch-run.js'
import type {BatchSummary} from '../core/batch/batch-report.js'
import {expandGetNames, isGetBatch} from '../core/batch/get-names.js'
import {listAllNames, ListRefusedError} from '../core/batch/remote-names.js'
import {formatByteSize} from '../core/byte-size.js'
import {sizeFlag} from '../core/size-flag.js'
import {DEFAULT_MAX_SIZE} from '../core/config.js'
import {Download, removePartsOnSignal, sweepStaleParts, TargetExistsError} from '../core/download-target.js'
import {identityKey, validateImageName} from '../core/images/names.js'
import {localReason} from '../core/client-failure.js'
import {isIssError} from '../core/errors.js'
import type {Message} from '../core/protocol/message.js'
import {StreamedBytes} from '../core/protocol/values.js'
import {ExitCode, type ItemResult, ProtocolCommand, UsageError} from '../core/protocol-command.js'
import {ResumableDownload} from '../core/resumable-download.js'
import {VerifyingSink} from '../core/transfer-digest.js'
import {formatBytes} from '../core/transfer-progress.js'
import {ConnectionError, isConnectionError} from '../core/transport/client-connection.js'

/** One name's outcome, as `--json` prints it: `ok` only once the image is complete in its place. */
export interface GetResult extends ItemResult {
  /** The name as given (NFC). */
  name: string
  /** Where the image was (or would have been) written. */
  path: string | null
  /** Bytes written. */
  bytes: number
}

export default class Get extends ProtocolCommand<typeof Get> {
  static override summary = 'Download images from an iss server, never leaving a partial file.'

  static override description =
    'Each image streams into a hidden temporary file beside its target and ' +
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
    name: Args.string({
      description: "Names of stored images, or patterns ('*.png', 'cat-?.jpg', quoted), compared case-insensitively.",
    }),
  }

  static override flags = {
    output: Flags.string({
      char: 'o',
      summary: 'Folder to download into, or a file name when downloading one image. Default: the current folder.',
    }),
    force: Flags.boolean({char: 'f', default: false, summary: 'Replace existing files.'}),
    continue: Flags.boolean({
      char: 'c',
      default: false,
      summary:
        'Keep the part file of a cut download (for a week) and resume it on the next run; the whole file is checked by SHA-256.',
    }),
    'max-size': sizeFlag({min: 1})({
      default: DEFAULT_MAX_SIZE,
      defaultHelp: async () => formatByteSize(DEFAULT_MAX_SIZE),
      summary: 'Largest image accepted (bytes, or 256MiB, 1GiB...); a larger answer is refused as it is announced.',
    }),
    ...downloadBatchFlags,
  }

  static override strict = false

  async run(): Promise<{results: GetResult[]; summary?: BatchSummary}> {
    if (this.argList.length === 0 && !this.flags.all)
      throw new UsageError("name the images to get, a quoted pattern ('*.png'), or --all")
    const batchMode = isGetBatch(this.argList, this.flags.all)
    const {directory, file} = await this.resolveOutput(batchMode)
    // Patterns and --all become the stored names they match (src/core/batch/get-names.ts), from LIST.
    let expanded
    try {
      expanded = await expandGetNames(this.argList, this.flags.all, async () => this.listNames())
    } catch (error) {
      if (!(error instanceof ListRefusedError)) throw error
      // The server refused LIST (a scope too low, say): nothing to get, exit 1, as for a refused item.
      const result = {
        name: '*',
        path: null,
        status: 'skipped',
        source: null,
        bytes: 0,
        code: null,
        message: null,
      } as const
      const failed: GetResult = {...result}
      this.itemFailed(failed, 'LIST', {
        source: 'server',
        code: error.code,
        message: error.message,
        exitCode: ExitCode.SERVER_ERROR,
      })
      return {results: [failed]}
    }
    const {names, unmatched} = expanded
    const results = await Promise.all(names.map(async (name) => this.checkName(name, file, directory)))
    this.partialResult = {results}
    const seen = new Set<string>()
    for (const result of results) {
      if (result.status !== 'skipped' || result.path === null) continue
      if (seen.has(result.path)) markLocal(result, 'E_USAGE', 'named twice')
      seen.add(result.path)
    }
    for (const result of results) {
      if (result.status === 'error') this.itemFailed(result, result.name, localFailure(result.code, result.message!))
    }
    for (const pattern of unmatched) {
      const result: GetResult = {
        name: pattern,
        path: null,
        status: 'skipped',
        source: null,
        bytes: 0,
        code: null,
        message: null,
      }
      results.push(result)
      this.itemFailed(result, pattern, {
        source: 'server',
        code: 'E_NOT_FOUND',
        message: 'no stored image matches this pattern',
        exitCode: ExitCode.SERVER_ERROR,
      })
    }

    const batch = startBatch({
      active: batchMode || this.flags.parallel !== undefined,
      parallel: this.flags.parallel,
      json: this.jsonEnabled(),
      results,
      label: (result) => result.name,
      verb: 'received',
    })
    if (results.some((result) => result.status === 'skipped')) {
      await sweepStaleParts(directory)
      const uninstall = removePartsOnSignal()
      try {
        await this.performEach(results, async (result) => this.download(result), batch?.lanes)
      } finally {
        uninstall()
      }
    }

    return batch?.finish() ?? {results}
  }

  /** Every stored name, for patterns and --all. */
  private async listNames(): Promise<string[]> {
    return listAllNames(async (extra) => this.request({COMMAND: 'LIST', extra}), this.address)
  }

  private async download(result: GetResult): Promise<void> {
    if (this.flags.continue) {
      await this.downloadResumable(result)
      return
    }

    const target = result.path!
    const download = await Download.start(target)
    try {
      const sink = new VerifyingSink(download.sink)
      const response = await this.request({COMMAND: 'GET', FILENAME: result.name}, {sink, label: result.name})
      if (response.STATUS === 'ERROR') {
        await download.discard()
        this.serverRefused(result, response)
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
      this.checkAnsweredName(result, response)
      const actual = sink.actual()
      if (sink.expected !== undefined && actual !== sink.expected) {
        await download.discard()
        this.digestMismatch(result, sink.expected, actual)
        return
      }
      await download.publish(this.flags.force)
      Object.assign(result, {status: 'ok', bytes: download.bytes})
      this.say(`${result.name}: saved to ${target} (${formatBytes(download.bytes)})`)
    } catch (error) {
      await download.discard()
      if (error instanceof TargetExistsError) {
        this.itemFailed(result, result.name, localFailure(error.code, error.message))
        return
      }
      // Over this client's --max-size: refused here (exit 2); the server is fine, the next name goes on.
      const failure = this.failureOf(error)
      if (failure?.code === 'E_TOO_LARGE' && failure.source === 'local') {
        this.itemFailed(result, result.name, failure)
        return
      }
      if (isConnectionError(error) || (error as {exitCode?: number}).exitCode !== undefined) throw error
      // A local write failure (disk full, permissions) fails this image; the others go on.
      const code = (error as {code?: string}).code ?? 'E_LOCAL_WRITE'
      this.itemFailed(result, result.name, localFailure(code, `cannot write it: ${(error as Error).message}`))
    }
  }

  /** A download whose bytes differ from the server's SHA-256: nothing was kept; exit 3. */
  private digestMismatch(result: GetResult, expected: string, actual: string): void {
    this.itemFailed(result, result.name, {
      source: 'connection',
      code: 'E_DIGEST_MISMATCH',
      message:
        `damaged on the way: its SHA-256 is ${actual.slice(0, 12)}…, the server's is ${expected.slice(0, 12)}…; ` +
        'nothing was saved',
      exitCode: ExitCode.CONNECTION,
    })
  }

  /** The server answered ERROR for this item: its code and DETAILS, exit 1. */
  private serverRefused(result: GetResult, response: Message): void {
    this.itemFailed(result, result.name, {
      source: 'server',
      code: response.CODE,
      message: detailsText(response.DETAILS),
      exitCode: ExitCode.SERVER_ERROR,
    })
  }

  /**
   * An answer about another file is a broken server, never written under our name. FILENAME is never used
   * as a path; a stored name that differs only in case is the same image.
   */
  private checkAnsweredName(result: GetResult, response: Message): void {
    if (response.FILENAME === null || identityKey(response.FILENAME) === identityKey(result.name)) return
    throw new ConnectionError(
      'protocol',
      this.address,
      `${this.address} answered GET ${result.name} with another file (${JSON.stringify(response.FILENAME)})`,
    )
  }

  /**
   * --continue: the part file beside the target grows across runs (GET OFFSET); a server that sends the whole
   * image instead makes it start over; a changed image on the server restarts from zero (once per run).
   */
  private async downloadResumable(result: GetResult): Promise<void> {
    const target = result.path!
    const download = await ResumableDownload.open(target, this.address, result.name)
    try {
      for (let attempt = 0; ; attempt++) {
        const extra = download.offset > 0 ? {OFFSET: BigInt(download.offset)} : undefined
        const response = await this.request(
          {COMMAND: 'GET', FILENAME: result.name, ...(extra && {extra})},
          {sink: download.sink, label: result.name},
        )
        if (response.STATUS === 'ERROR') {
          await download.keep()
          this.serverRefused(result, response)
          return
        }
        this.checkAnsweredName(result, response)
        if (download.result === 'changed' && attempt === 0) {
          this.say(`${result.name}: changed on the server since the last attempt; starting over`)
          await download.reset()
          continue
        }
        await download.flush()
        break
      }
      const {sha256, isIntact} = await download.finish(this.flags.force)
      if (!isIntact) {
        await download.discard()
        this.digestMismatch(result, download.expectedSha256!, sha256)
        return
      }
      Object.assign(result, {status: 'ok', bytes: download.bytes})
      const resumed =
        download.offset > 0 && download.result === 'appended' ? `, resumed at ${formatBytes(download.offset)}` : ''
      this.say(`${result.name}: saved to ${target} (${formatBytes(download.bytes)}${resumed})`)
    } catch (error) {
      if (error instanceof TargetExistsError) {
        await download.keep()
        this.itemFailed(result, result.name, localFailure(error.code, error.message))
        return
      }
      // Anything else (a cut connection): the part and its sidecar stay for the next --continue.
      await download.keep()
      throw error
    }
  }

  /** The folder the downloads go into, and the file name when -o names one. */
  private async resolveOutput(batch: boolean): Promise<{directory: string; file?: string}> {
    const output = this.flags.output
    if (output === undefined) return {directory: process.cwd()}
    const stats = await stat(output).catch(() => undefined)
    if (stats?.isDirectory()) return {directory: path.resolve(output)}
    // A folder -o names is never created: a typo would otherwise scatter images into a new folder.
    const what = stats === undefined ? 'no such folder' : 'not a folder'
    if (output.endsWith('/') || output.endsWith(path.sep)) throw new UsageError(`${output}: ${what}`)
    if (this.argList.length > 1 || batch) {
      throw new UsageError(`${output}: ${what} (with several names, -o names an existing folder)`)
    }
    const directory = path.dirname(path.resolve(output))
    const parent = await stat(directory).catch(() => undefined)
    if (!parent?.isDirectory()) throw new UsageError(`${path.dirname(output)}: no such folder`)
    return {directory, file: path.resolve(output)}
  }

  private async checkName(typed: string, file: string | undefined, directory: string): Promise<GetResult> {
    const result: GetResult = {
      name: typed,
      path: null,
      status: 'skipped',
      source: null,
      bytes: 0,
      code: null,
      message: null,
    }
    try {
      result.name = validateImageName(typed)
    } catch (error) {
      if (!isIssError(error)) throw error
      return markLocal(result, error.code, localReason(error))
    }
    result.path = file ?? path.join(directory, result.name)
    const existing = await lstat(result.path).catch(() => undefined)
    if (existing?.isDirectory()) return markLocal(result, 'E_TARGET_EXISTS', `${result.path} is a folder`)
    if (existing !== undefined && !this.flags.force) {
      return markLocal(result, 'E_TARGET_EXISTS', new TargetExistsError(result.path).message)
    }
    return result
  }
}

/** A failure found by a local check: exit 2. */
function localFailure(code: string | null, message: string) {
  return {source: 'local' as const, code, message, exitCode: ExitCode.LOCAL_ERROR}
}

/** Marks a result failed by a local check, before anything is printed or sent. */
function markLocal(result: GetResult, code: string | null, message: string): GetResult {
  return Object.assign(result, {status: 'error', source: 'local', code, message})
}

function detailsText(details: string | string[] | null): string {
  if (details === null) return 'the server refused the request'
  return typeof details === 'string' ? details : details.join(', ')
}
