import {stat, watch} from 'node:fs/promises'
import {basename, dirname} from 'node:path'

import {readTokensFile, type TokenEntry, type TokensFile} from './tokens-file.js'

/** Where the access policy gets the current tokens from. */
export interface TokenSource {
  /** The tokens now in force. */
  tokens(): readonly TokenEntry[]
}

/** A fixed set of tokens (embedding, tests): nothing to watch. */
export function fixedTokens(tokens: readonly TokenEntry[] = []): TokenSource {
  return {tokens: () => tokens}
}

/** What the watcher reports besides reloading. */
export interface TokensWatchEvents {
  /** The file changed and was read: how many tokens are now in force. */
  reloaded?(count: number): void
  /** The file changed but could not be read: the tokens in force stay as they were. */
  failed?(error: Error): void
}

/** How often the file's stat is compared, for filesystems where fs.watch reports nothing (NFS, some containers). */
export const POLL_INTERVAL_MS = 1000

/**
 * The server's tokens file, kept current without a restart: fs.watch on its folder (an atomic
 * replace is a rename, which a watch on the file itself would lose) plus a stat poll once a second as
 * a fallback, so a change is in force within about a second either way. A file that turns unreadable
 * or invalid keeps the previous tokens (a half-edited file must not lock everyone out or let everyone
 * in) and reports the fault.
 */
export class TokensWatcher implements TokenSource {
  private current: TokensFile
  private readonly stopWatching = new AbortController()
  private readonly timer: NodeJS.Timeout
  private signature = ''
  private reading: Promise<void> | null = null
  private again = false
  private closed = false

  private constructor(
    readonly path: string,
    initial: TokensFile,
    signature: string,
    private readonly events: TokensWatchEvents,
    pollMs: number,
  ) {
    this.current = initial
    this.signature = signature
    this.follow().catch(() => {
      // The folder went away or cannot be watched: the poll carries on alone.
    })
    this.timer = setInterval(() => this.check(), pollMs)
    this.timer.unref()
  }

  /** Reads the file (throws TokensFileError when it is invalid) and starts watching it. */
  static async start(path: string, events: TokensWatchEvents = {}, pollMs = POLL_INTERVAL_MS): Promise<TokensWatcher> {
    const signature = await signatureOf(path)
    return new TokensWatcher(path, await readTokensFile(path), signature, events, pollMs)
  }

  tokens(): readonly TokenEntry[] {
    return this.current.tokens
  }

  close(): void {
    this.closed = true
    this.stopWatching.abort()
    clearInterval(this.timer)
  }

  /** Checks the file whenever something in its folder changes (a replace is a rename in the folder). */
  private async follow(): Promise<void> {
    const name = basename(this.path)
    const changes = watch(dirname(this.path), {persistent: false, signal: this.stopWatching.signal})
    for await (const change of changes) {
      if (change.filename === null || change.filename === name) this.check()
    }
  }

  /** Re-reads the file when its stat changed; one read at a time, and one more if asked meanwhile. */
  private check(): void {
    if (this.closed) return
    if (this.reading !== null) {
      this.again = true
      return
    }

    this.reading = this.reload().finally(() => {
      this.reading = null
      if (this.again) {
        this.again = false
        this.check()
      }
    })
  }

  private async reload(): Promise<void> {
    const signature = await signatureOf(this.path)
    if (signature === this.signature) return
    try {
      const file = await readTokensFile(this.path)
      if (this.closed) return
      this.current = file
      this.signature = signature
      this.events.reloaded?.(file.tokens.length)
    } catch (error) {
      this.signature = signature
      this.events.failed?.(error as Error)
    }
  }
}

/** What changes when the file is replaced or edited: inode, size, modification time. */
async function signatureOf(path: string): Promise<string> {
  try {
    const info = await stat(path, {bigint: true})
    return `${info.ino}:${info.size}:${info.mtimeNs}`
  } catch {
    return 'absent'
  }
}
