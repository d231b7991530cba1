import {Args} from '@oclif/core'

import {tokensFileFlag} from '../../core/access/flags.js'
import {TokenCommand} from '../../core/access/token-command.js'
import {updateTokensFile} from '../../core/access/tokens-file.js'

export default class TokenRevoke extends TokenCommand {
  static override summary = "Revoke an access token: remove it from the server's tokens file."

  static override description =
    'A running server refuses the token within about a second (E_UNAUTHORIZED). Exit 2 when there is no token ' +
    'of that name.'

  static override examples = [{command: '<%= config.bin %> <%= command.id %> laptop', description: 'Revoke laptop.'}]

  static override args = {
    name: Args.string({description: 'The token to revoke.', required: true}),
  }

  static override flags = {
    tokens: tokensFileFlag,
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(TokenRevoke)
    const path = this.tokensPath(flags.tokens)
    const found = await updateTokensFile(path, (file) => {
      const tokens = file.tokens.filter((entry) => entry.name !== args.name)
      return {file: {version: 1, tokens}, result: tokens.length < file.tokens.length}
    })
    if (!found) this.fail(`no token named '${args.name}' in ${path}`)
    process.stderr.write(`revoked token '${args.name}' in ${path}\n`)
  }
}
