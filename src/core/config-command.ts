import {Command, Flags, type Interfaces} from '@oclif/core'

import {ExitCode, UsageError} from './errors.js'
import {checkProfileName, DEFAULT_PROFILE} from './profiles.js'
import {safeJsonStringify} from './safe-json.js'

/** Keys whose values `iss config list` masks: they grant access. `iss config get` still prints them. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['token'])

/**
 * The base of `iss config set|get|unset|list`: --profile (ISS_PROFILE) naming the profile to edit, and failures
 * as one line `iss: ...` with the exit code of DESIGN.md (2 for a usage or local error).
 */
export abstract class ConfigCommand extends Command {
  static override baseFlags = {
    profile: Flags.string({
      env: 'ISS_PROFILE',
      summary: `Profile to read or change (default: "${DEFAULT_PROFILE}").`,
    }),
  }

  static override enableJsonFlag = true

  /** The profile named by --profile or ISS_PROFILE, else "default". */
  protected profileName(flags: {profile?: string}): string {
    return checkProfileName(flags.profile ?? DEFAULT_PROFILE)
  }

  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    if (!(error instanceof UsageError) && !(error as NodeJS.ErrnoException).syscall) return super.catch(error)
    const exitCode = (error as {exitCode?: number}).exitCode
    const code = (error as {code?: string}).code ?? 'E_USAGE'
    if (this.jsonEnabled()) {
      this.logJson({error: {code, message: error.message, exitCode: exitCode ?? ExitCode.LOCAL_ERROR, source: 'local'}})
    } else {
      process.stderr.write(`iss: ${error.message}\n`)
    }
    this.exit(exitCode ?? ExitCode.LOCAL_ERROR)
  }

  protected override logJson(json: unknown): void {
    process.stdout.write(safeJsonStringify(json, 2) + '\n')
  }
}
