import {Args, Flags} from '@oclif/core'

import {parseDuration} from '../../core/access/duration.js'
import {tokensFileFlag} from '../../core/access/flags.js'
import {SCOPES} from '../../core/access/scope.js'
import {TokenCommand} from '../../core/access/token-command.js'
import {newToken} from '../../core/access/token-secret.js'
import {TOKEN_NAME_PATTERN, type TokenEntry, updateTokensFile} from '../../core/access/tokens-file.js'

export default class TokenCreate extends TokenCommand {
  static override summary = "Create an access token in the server's tokens file."

  static override description =
    'Prints the new token (iss_<id>_<secret>) once, alone on stdout; the file keeps only its SHA-256, so it ' +
    'cannot be shown again. A running server picks the token up within about a second. Exit 2 when the name is ' +
    'taken or invalid.'

  static override examples = [
    {
      command: 'T=$(<%= config.bin %> <%= command.id %> laptop --scope write --expires 30d)',
      description: 'A token that may PUT, GET and LIST for 30 days, kept in $T.',
    },
    {command: 'ISS_TOKEN=$T <%= config.bin %> put cat.jpg', description: 'Use it.'},
  ]

  static override args = {
    name: Args.string({
      description: 'Name shown in logs and `iss token list` (letters, digits, . _ -).',
      required: true,
    }),
  }

  static override flags = {
    scope: Flags.option({options: SCOPES, required: true})({
      summary: 'What the token may do; scopes nest: admin > delete > write > read.',
    }),
    expires: Flags.string({summary: 'Lifetime, e.g. 30d, 12h, 90m, 2w (default: no expiry).'}),
    tokens: tokensFileFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(TokenCreate)
    if (!TOKEN_NAME_PATTERN.test(args.name)) {
      this.fail(
        `invalid token name '${args.name}': use 1 to 64 letters, digits, '.', '_' or '-', starting with one of the first two`,
      )
    }

    let expires: string | null = null
    if (flags.expires !== undefined) {
      const ms = parseDuration(flags.expires)
      if (ms === null) this.fail(`invalid --expires '${flags.expires}': use a number and s, m, h, d or w, e.g. 30d`)
      expires = new Date(Date.now() + ms).toISOString()
    }

    const path = this.tokensPath(flags.tokens)
    const token = newToken()
    const entry: TokenEntry = {
      name: args.name,
      id: token.id,
      sha256: token.hash,
      scope: flags.scope,
      created: new Date().toISOString(),
      expires,
    }
    const taken = await updateTokensFile(path, (file) => {
      if (file.tokens.some((existing) => existing.name === args.name)) return {file, result: true}
      return {file: {version: 1, tokens: [...file.tokens, entry]}, result: false}
    })
    if (taken)
      this.fail(`a token named '${args.name}' already exists in ${path}; revoke it first or choose another name`)
    process.stderr.write(
      `created token '${args.name}' (scope ${flags.scope}, ${expires === null ? 'no expiry' : `expires ${expires}`}) ` +
        `in ${path}; it is shown only now:\n`,
    )
    process.stdout.write(token.text + '\n')
  }
}
