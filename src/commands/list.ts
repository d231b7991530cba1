import {Args, Flags} from '@oclif/core'

import {entriesOf, formatEntries, type ListEntry, nameFilter} from '../core/long-listing.js'
import {printable} from '../core/printable.js'
import {ExitCode, ProtocolCommand} from '../core/protocol-command.js'
import type {Message} from '../core/protocol/message.js'
import {ConnectionError} from '../core/transport/client-connection.js'

/** What `iss list --json` prints. */
export interface ListResult {
  /** Stored names, in the server's order (sorted by identity key on an iss server). */
  names: string[]
  /** The server's message when it sent one instead of names (an empty store), else null. */
  message: string | null
  /** With --long: one entry per name (size, time, digest; null where the server did not say). */
  entries?: ListEntry[]
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

export default class List extends ProtocolCommand<typeof List> {
  static override summary = 'List the images stored on an iss server.'

  static override description =
    "One name per line, as they arrive: an iss server sends them in pages, so any number of names lists in bounded memory. For an empty store, prints the server's message. " +
    'Control and bidi characters in names are shown as \\uXXXX escapes. ' +
    'Exit codes: 0 listed, 1 the server answered ERROR, 3 connection or protocol failure.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'List the images on the local server.'},
    {command: 'ISS_HOST=images.example.net <%= config.bin %> <%= command.id %>', description: 'On another server.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'As JSON: {"names": [...], "message": null}.'},
    {
      command: '<%= config.bin %> <%= command.id %> --long',
      description: 'Size, upload time and short SHA-256 of each.',
    },
    {
      command: "<%= config.bin %> <%= command.id %> 'cat*.jpg'",
      description: 'Only names matching a shell-style pattern.',
    },
  ]

  static override args = {
    pattern: Args.string({
      description: 'Only names matching this shell-style pattern (*, ?, [...]), compared case-insensitively.',
      required: false,
    }),
  }

  static override flags = {
    long: Flags.boolean({
      char: 'l',
      default: false,
      summary: 'Show size, upload time and a short SHA-256 for each image (--json: every field in full).',
    }),
  }

  // A listing carries no image. An iss server pages (10,000 names of at most 255 bytes: under 2.6 MB a
  // page); 16 MiB of FILE_DATA allows a 32 MiB frame, for a server that does not page (a seed server).
  protected override defaultMaxSize = 16 * 1024 * 1024

  async run(): Promise<ListResult> {
    const names: string[] = []
    const entries: ListEntry[] = []
    const json = this.jsonEnabled()
    const {long} = this.flags
    const matches = nameFilter(this.args.pattern)
    const withEntries = (result: ListResult): ListResult => (long ? {...result, entries} : result)
    let after: string | undefined
    for (;;) {
      const page: Record<string, bigint | string | boolean> = {LIMIT: BigInt(PAGE_SIZE)}
      if (after !== undefined) page.AFTER = after
      if (long) page.LONG = true
      const response = await this.request({COMMAND: 'LIST', extra: page})
      if (response.STATUS === 'ERROR') {
        const message = typeof response.DETAILS === 'string' ? response.DETAILS : 'the server refused to list'
        this.recordExitCode(ExitCode.SERVER_ERROR)
        if (!json) process.stderr.write(`iss: ${printable(message)}\n`)
        return withEntries({names, message: null, error: {code: response.CODE, message}})
      }

      if (!Array.isArray(response.DETAILS)) {
        // A message instead of names: the store is empty (only a first page says so).
        const message = response.DETAILS ?? ''
        if (after === undefined && message !== '' && !json) await print(`${printable(message)}\n`)
        return withEntries({names, message: after === undefined ? response.DETAILS : null})
      }

      const shown = response.DETAILS.filter((name) => matches(name))
      if (long) {
        const pageEntries = entriesOf(response.DETAILS, response.extra.get('ENTRIES')).filter((entry) =>
          matches(entry.name),
        )
        if (json) entries.push(...pageEntries)
        else if (pageEntries.length > 0) await print(formatEntries(pageEntries))
      }
      if (json) names.push(...shown)
      else if (!long && shown.length > 0) await print(shown.map((name) => printable(name)).join('\n') + '\n')
      const next = this.nextPage(response, after)
      if (next === undefined) return withEntries({names, message: null})
      after = next
    }
  }

  /** The AFTER of the next page, or undefined when the listing is complete (no NEXT: the last page, or a seed server). */
  private nextPage(response: Message, after: string | undefined): string | undefined {
    const next = response.extra.get('NEXT') ?? null
    if (next === null) return undefined
    // A server that sends NEXT must move forward (UTF-8 byte order is code point order), or a hostile one
    // could make the client ask forever.
    if (
      typeof next !== 'string' ||
      next.length > MAX_NEXT_LENGTH ||
      (after !== undefined && Buffer.compare(Buffer.from(next), Buffer.from(after)) <= 0)
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
