import type {Logger} from 'pino'

import {isLoopbackHost} from './loopback.js'
import {AccessPolicy} from './policy.js'
import {type AnonymousGrant, covers} from './scope.js'
import {readLastUsed, writeLastUsed} from './tokens-file.js'
import {TokensWatcher} from './tokens-watch.js'

/** How often the server writes "last used" times out (and once more when it stops). */
export const LAST_USED_FLUSH_MS = 60_000

/** A start-up refusal of the access settings: one line for the person starting the server (exit 2). */
export class AccessSetupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AccessSetupError'
  }
}

export interface ServeAccessOptions {
  readonly tokensPath: string
  /** `--anonymous` when given; undefined lets the policy decide from the bind address and the tokens. */
  readonly anonymous?: AnonymousGrant
  readonly host: string
  readonly logger: Logger
}

/** The access side of a running `iss serve`: the policy, its watched tokens file and the "last used" writer. */
export interface ServeAccess {
  readonly policy: AccessPolicy
  readonly tokensPath: string
  /** How many tokens the file held at start. */
  readonly tokenCount: number
  /** A line for the start-up output: where tokens come from and what anonymous requests may do. */
  describe(): string
  /** True when a request without a token may store images (the off-loopback warning). */
  anonymousWrites(): boolean
  /** Stops watching and writes the "last used" times one last time. */
  close(): Promise<void>
}

/**
 * Reads the tokens file and starts watching it; refuses (AccessSetupError) to serve an address other
 * than loopback when there are no tokens and no explicit --anonymous, since everyone could then read
 * and write. Throws TokensFileError for a tokens file that cannot be read.
 */
export async function openServeAccess(options: ServeAccessOptions): Promise<ServeAccess> {
  const {logger, tokensPath} = options
  const loopback = isLoopbackHost(options.host)
  // The policy is made once the file is read; the reload log line reads it through this box.
  const made: {policy?: AccessPolicy} = {}
  const watcher = await TokensWatcher.start(tokensPath, {
    reloaded(count) {
      logger.info({tokens: count, anonymous: made.policy?.anonymous()}, 'tokens file reloaded')
    },
    failed(error) {
      logger.error({err: error.message}, 'tokens file not reloaded; the previous tokens stay in force')
    },
  })
  const tokenCount = watcher.tokens().length
  if (!loopback && tokenCount === 0 && options.anonymous === undefined) {
    watcher.close()
    throw new AccessSetupError(
      `refusing to serve ${options.host} (not loopback) with no tokens and no --anonymous: anyone could read and ` +
        `write; create one with \`iss token create NAME --scope write\`, or choose --anonymous explicitly`,
    )
  }

  const policy = new AccessPolicy({tokens: watcher, anonymous: options.anonymous ?? 'auto', loopback})
  made.policy = policy
  const recorder = new LastUsedRecorder(tokensPath, policy, logger)
  return {
    policy,
    tokensPath,
    tokenCount,
    describe: () =>
      `access: ${watcher.tokens().length} token(s) in ${tokensPath}; without a token: ${policy.anonymous()}`,
    anonymousWrites: () => covers(policy.anonymous(), 'write'),
    async close() {
      watcher.close()
      await recorder.close()
    },
  }
}

/**
 * Writes "last used" times to a file beside the tokens file, at most once a minute and only when a
 * token was used since: never the tokens file itself (the admin's, and rewriting it per request would
 * race with `iss token` commands), never once per request. Times are therefore up to a minute late,
 * and lost for the last minute if the server is killed with SIGKILL.
 */
class LastUsedRecorder {
  private readonly timer: NodeJS.Timeout
  private readonly written = new Map<string, number>()
  private writing: Promise<void> = Promise.resolve()
  private warned = false

  constructor(
    private readonly tokensPath: string,
    private readonly policy: AccessPolicy,
    private readonly logger: Logger,
  ) {
    // flush() never rejects: a failed write is one warning.
    this.timer = setInterval(async () => this.flush(), LAST_USED_FLUSH_MS)
    this.timer.unref()
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  private async flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const fresh = [...this.policy.lastUsed()].filter(([id, time]) => this.written.get(id) !== time)
      if (fresh.length === 0) return
      try {
        const times = await readLastUsed(this.tokensPath)
        for (const [id, time] of fresh) times.set(id, new Date(time).toISOString())
        await writeLastUsed(this.tokensPath, times)
        for (const [id, time] of fresh) this.written.set(id, time)
      } catch (error) {
        if (!this.warned) this.logger.warn({err: (error as Error).message}, 'cannot write token last-used times')
        this.warned = true
      }
    })
    await this.writing
  }
}
