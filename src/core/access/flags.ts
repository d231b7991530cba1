import {Flags} from '@oclif/core'

import {ANONYMOUS_GRANTS} from './scope.js'

/** The client's access flag, spread into the shared base of every client command (built-in and plugin). */
export const accessClientFlags = {
  token: Flags.string({
    env: 'ISS_TOKEN',
    helpGroup: 'CONNECTION',
    summary: 'Access token (iss_...) sent with each request; prefer ISS_TOKEN, which other users cannot see in ps.',
  }),
}

/** The tokens file flag, shared by `iss serve` and every `iss token` command. */
export const tokensFileFlag = Flags.string({
  env: 'ISS_SERVE_TOKENS',
  summary: "The server's tokens file (default: tokens.json in the iss data directory).",
})

/** The server's access flags, spread into `iss serve`. */
export const accessServeFlags = {
  tokens: tokensFileFlag,
  anonymous: Flags.option({options: ANONYMOUS_GRANTS, env: 'ISS_SERVE_ANONYMOUS'})({
    summary:
      'What a request without a token may do: none, read, write, delete or admin. Default: admin on loopback ' +
      'with no tokens, read once tokens exist.',
  }),
}
