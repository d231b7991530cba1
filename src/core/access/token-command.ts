import {Command, type Interfaces} from '@oclif/core'
import {join} from 'node:path'

import {unknownFlagMessage} from '../did-you-mean.js'
import {TokensFileError} from './tokens-file.js'

/** Usage or local failure of an `iss token` command (DESIGN.md exit codes). */
const EXIT_LOCAL = 2

/**
 * The base of `iss token create|list|revoke`: the tokens file path (--tokens, ISS_SERVE_TOKENS, or
 * tokens.json in the data directory the server uses by default) and failures as one line, exit 2.
 */
export abstract class TokenCommand extends Command {
  /** The tokens file these flags name. */
  protected tokensPath(flag: string | undefined): string {
    return flag ?? join(this.config.dataDir, 'tokens.json')
  }

  /** One line on stderr and exit 2. */
  protected fail(message: string): never {
    process.stderr.write(`iss token: ${message}\n`)
    return this.exit(EXIT_LOCAL)
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    const typo = unknownFlagMessage(error, this.config.bin, this.id ?? 'token', {...this.ctor.flags, json: {}})
    if (typo !== undefined) {
      process.stderr.write(typo + '\n')
      this.exit(EXIT_LOCAL)
    }

    if (error instanceof TokensFileError) this.fail(error.message)
    if ((error as NodeJS.ErrnoException).syscall !== undefined) this.fail((error as Error).message)
    if ((error as {parse?: unknown}).parse !== undefined) {
      ;(error as {oclif?: {exit?: number}}).oclif = {...(error as {oclif?: object}).oclif, exit: EXIT_LOCAL}
    }

    return super.catch(error)
  }
}
