import {tokensFileFlag} from '../../core/access/flags.js'
import {TokenCommand} from '../../core/access/token-command.js'
import {readLastUsed, readTokensFile} from '../../core/access/tokens-file.js'
import {safeJsonStringify} from '../../core/safe-json.js'

/** One token as `iss token list --json` prints it (never the secret, nor its hash). */
export interface TokenListEntry {
  name: string
  scope: string
  /** ISO 8601 times; null for no expiry / never used. */
  created: string
  expires: string | null
  expired: boolean
  /** As the server last wrote it (at most a minute late; see docs/security.md). */
  lastUsed: string | null
}

export default class TokenList extends TokenCommand {
  static override summary = "List the access tokens in the server's tokens file."

  static override description =
    'Name, scope, created, expires and last used of each token; never the secret. "last used" is written by the ' +
    'server at most once a minute and when it stops.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'A table.'},
    {command: '<%= config.bin %> <%= command.id %> --json', description: 'As JSON: [{"name", "scope", ...}].'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    tokens: tokensFileFlag,
  }

  async run(): Promise<TokenListEntry[]> {
    const {flags} = await this.parse(TokenList)
    const path = this.tokensPath(flags.tokens)
    const file = await readTokensFile(path)
    const used = await readLastUsed(path)
    const now = Date.now()
    const entries = file.tokens.map((token) => ({
      name: token.name,
      scope: token.scope,
      created: token.created,
      expires: token.expires,
      expired: token.expires !== null && Date.parse(token.expires) <= now,
      lastUsed: used.get(token.id) ?? null,
    }))
    if (!this.jsonEnabled()) {
      if (entries.length === 0) process.stderr.write(`no tokens in ${path}\n`)
      else this.table(entries)
    }

    return entries
  }

  /** Plain JSON on stdout, never coloured (DESIGN.md, "CLI"). */
  protected override logJson(json: unknown): void {
    process.stdout.write(safeJsonStringify(json, 2) + '\n')
  }

  private table(entries: readonly TokenListEntry[]): void {
    const rows = [
      ['NAME', 'SCOPE', 'CREATED', 'EXPIRES', 'LAST USED'],
      ...entries.map((e) => [
        e.name,
        e.scope,
        e.created,
        e.expires === null ? 'never' : e.expired ? `${e.expires} (expired)` : e.expires,
        e.lastUsed ?? '-',
      ]),
    ]
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
    for (const row of rows)
      this.log(
        row
          .map((cell, column) => cell.padEnd(widths[column]))
          .join('  ')
          .trimEnd(),
      )
  }
}
