import {printable} from '../core/printable.js'
import {ExitCode, ProtocolCommand} from '../core/protocol-command.js'
import type {Message} from '../core/protocol/message.js'
import {compareCodePoints} from '../core/store/name-index.js'
import {ConnectionError, isConnectionError} from '../core/transport/client-connection.js'

/** What `iss list --json` prints. */
export interface ListResult {
  /** Stored names, in the server's order (sorted by identity key on an iss server). */
  names: string[]
  /** The server's message when it sent one instead of names (an empty store), else null. */
  message: string | null
  /** Present when the server answered ERROR. */
  error?: {code: string | null; message: string}
}

/**
 * Names asked for per request (about 500 KB of 240-byte names): small enough that a busy server sends a
 * page in one turn, large enough that a million names take 500 round trips. A server caps pages at 10,000.
 */
export const PAGE_SIZE = 2000
/** An identity key is at most 255 bytes of name; a longer NEXT is not one. */
const MAX_NEXT_LENGTH = 1024

/**
 * Characters JSON.stringify leaves raw that a terminal acts on: DEL, C1 (U+009B is CSI), the line and
 * paragraph separators and the bidi controls, as printable() escapes them. C0 and lone surrogates are
 * escaped by JSON.stringify itself.
 */
const JSON_UNSAFE = /[\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g

export default class List extends ProtocolCommand<typeof List> {
  static override summary = 'List the images stored on an iss server.'

  static override description =
    "List the images stored on an iss server, one name per line, as they arrive: an iss server sends them in pages, so any number of names lists in bounded memory. For an empty store, prints the server's message. " +
    'Control and bidi characters in names are shown as \\uXXXX escapes. ' +
    'Exit codes: 0 listed, 1 the server answered ERROR, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List the images on the local server.'},
    {command: 'ISS_HOST=images.example.net <%= config.bin %> <%= command.id %>', description: 'On another server.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'As JSON: {"names": [...], "message": null}.'},
  ]

  // A listing carries no image. An iss server pages (10,000 names of at most 255 bytes: under 2.6 MB a
  // page); 16 MiB of FILE_DATA allows a 32 MiB frame, for a server that does not page (a seed server).
  protected override defaultMaxSize = 16 * 1024 * 1024

  async run(): Promise<ListResult> {
    try {
      return await this.listAll()
    } catch (error) {
      throw tooLargeListing(error) ?? error
    }
  }

  private async listAll(): Promise<ListResult> {
    const names: string[] = []
    const json = this.jsonEnabled()
    let after: string | undefined
    for (;;) {
      const response = await this.request({
        COMMAND: 'LIST',
        extra: after === undefined ? {LIMIT: BigInt(PAGE_SIZE)} : {AFTER: after, LIMIT: BigInt(PAGE_SIZE)},
      })
      if (response.STATUS === 'ERROR') {
        const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to list'
        this.recordExitCode(ExitCode.SERVER_ERROR)
        if (!json) process.stderr.write(`iss: ${printable(message)}\n`)
        return {names, message: null, error: {code: response.CODE, message}}
      }

      if (!Array.isArray(response.DETAILS)) {
        // A message instead of names: the store is empty (only a first page says so).
        const message = response.DETAILS ?? ''
        if (after === undefined && message !== '' && !json) await print(`${printable(message)}\n`)
        return {names, message: after === undefined ? response.DETAILS : null}
      }

      if (json) names.push(...response.DETAILS)
      else if (response.DETAILS.length > 0)
        await print(response.DETAILS.map((name) => printable(name)).join('\n') + '\n')
      const next = this.nextPage(response, after)
      if (next === undefined) return {names, message: null}
      after = next
    }
  }

  /** Plain JSON, with what a terminal would act on escaped as \uXXXX (JSON.parse reads the same strings). */
  protected override logJson(json: unknown): void {
    const text = JSON.stringify(json, null, 2).replaceAll(
      JSON_UNSAFE,
      (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`,
    )
    process.stdout.write(text + '\n')
  }

  /** The AFTER of the next page, or undefined when the listing is complete (no NEXT: the last page, or a seed server). */
  private nextPage(response: Message, after: string | undefined): string | undefined {
    const next = response.extra.get('NEXT') ?? null
    if (next === null) return undefined
    // A server that sends NEXT must move forward, or a hostile one could make the client ask forever.
    if (
      typeof next !== 'string' ||
      next.length > MAX_NEXT_LENGTH ||
      (after !== undefined && compareCodePoints(next, after) <= 0)
    )
      throw new ConnectionError(
        'protocol',
        this.address,
        `${this.address} sent a LIST page whose NEXT does not move past the previous page`,
      )
    return next
  }
}

/** Writes to stdout, waiting while a slow reader (a pager, a pipe) has not taken the last page. */
async function print(text: string): Promise<void> {
  if (process.stdout.write(text)) return
  await new Promise<void>((resolve) => {
    process.stdout.once('drain', resolve)
  })
}

/**
 * The client's own frame limit, hit by a listing: only a server that sends every name in one answer (a seed
 * server) gets there. Said without naming a flag: `list` has no --max-size.
 */
function tooLargeListing(error: unknown): ConnectionError | undefined {
  if (!isConnectionError(error) || error.kind !== 'protocol') return undefined
  const cause = error.cause as {code?: unknown; message?: unknown} | undefined
  if (cause?.code !== 'E_TOO_LARGE') return undefined
  return new ConnectionError(
    'protocol',
    error.address,
    `${error.address} sent a listing larger than this client accepts (${String(cause.message)}): it sends every name in one answer instead of pages, as iss servers do`,
    {cause},
  )
}
