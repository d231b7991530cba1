import type {Logger} from 'pino'

import type {AccessGrant, AccessPolicy} from './access/policy.js'
import type {Scope} from './access/scope.js'
import {ErrorCode, isIssError} from './errors.js'
import type {CommandHandler} from './handler.js'
import {type Dispatcher, nameCheck} from './dispatch.js'
import {type Message, toMessage} from './protocol/message.js'
import type {PickleDict} from './protocol/values.js'
import {errorReply, type Reply} from './reply.js'
import type {ImageStore, Upload} from './store/store.js'
import type {HeadDecision, RequestExchange} from './transport/server-connection.js'

/** For promises whose failure changes nothing: an upload that fails to abort is gone either way. */
function ignore(): undefined {
  return undefined
}

/** A request's way in when it cannot be judged on its COMMAND yet (FILE_DATA before COMMAND): it would be spooled. */
const SPOOL_SCOPE: Scope = 'write'

/**
 * One request's way from its head to its reply: the shared checks, the access check (TOKEN in the
 * head against the scope the COMMAND's declaration names) and the handler's `accept` decide on the
 * head before any FILE_DATA byte is stored; the bytes then go to the upload it named; the
 * whole message goes to the same handler's `handle`. Whatever the handler did not publish is
 * discarded. Knows nothing of sockets: the transport drives it through {@link RequestExchange}.
 */
export class Exchange implements RequestExchange {
  private handler: CommandHandler | undefined
  private upload: Upload | null = null
  private uploadError: unknown = null
  private imageName: (() => string) | null = null
  private decided = false
  private grant: AccessGrant | null = null
  private grantedFor: Scope | null = null

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly store: ImageStore,
    private readonly peer: string,
    private readonly signal: AbortSignal,
    private readonly logger?: Logger,
    private readonly access?: AccessPolicy,
  ) {}

  /** The token's name (null: anonymous or not yet judged) for the request's log line; never the secret. */
  logFields(): Record<string, string | null> {
    return {token: this.grant?.tokenName ?? null}
  }

  async head(head: PickleDict, sizeHint: number): Promise<HeadDecision> {
    let message: Message
    try {
      message = toMessage(head)
    } catch (error) {
      return {refusal: error}
    }

    try {
      // FILE_DATA before COMMAND, STATUS or FILENAME (legal in a hand-made pickle): nothing to decide
      // on yet, so the bytes wait in the store's temporary area and the handler decides at the end.
      if (!head.has('COMMAND') || !head.has('STATUS')) {
        await this.authorize(message, SPOOL_SCOPE)
        return {sink: await this.spool(sizeHint)}
      }

      this.handler = await this.handlerFor(message)
      if (this.handler.accept === undefined) return {sink: null}
      if (!head.has('FILENAME')) return {sink: await this.spool(sizeHint)}
      this.decided = true
      const upload = await this.dispatcher.accept({
        message,
        sizeHint,
        peer: this.peer,
        signal: this.signal,
        handler: this.handler,
        imageName: this.nameCheck(message),
        requester: this.grant ?? undefined,
      })
      return {sink: upload === null ? null : this.hold(upload).sink}
    } catch (error) {
      return {refusal: error}
    }
  }

  async complete(message: Message): Promise<Reply> {
    try {
      this.handler ??= await this.handlerFor(message)
      await this.authorize(message, this.dispatcher.scopeOf(message.COMMAND!))
      const held = message.FILE_DATA
      // A FILE_DATA held in the message (small, or not streamable) is decided on like a streamed one.
      if (Buffer.isBuffer(held) && !this.decided && this.upload === null) {
        this.decided = true
        const upload = await this.dispatcher.accept({
          message: {...message, FILE_DATA: null},
          sizeHint: held.length,
          peer: this.peer,
          signal: this.signal,
          handler: this.handler,
          imageName: this.nameCheck(message),
          requester: this.grant ?? undefined,
        })
        if (upload !== null) await write(this.hold(upload), held)
      }
    } catch (error) {
      return errorReply(error, failed(message), this.logger)
    }

    if (this.uploadError !== null) return errorReply(this.uploadError, failed(message), this.logger)
    return this.dispatcher.dispatch({
      message,
      upload: this.upload,
      peer: this.peer,
      signal: this.signal,
      handler: this.handler,
      imageName: this.nameCheck(message),
      requester: this.grant ?? undefined,
    })
  }

  async dispose(): Promise<void> {
    const {upload} = this
    this.upload = null
    // Abort after commit is a no-op: only what the handler did not publish is thrown away.
    if (upload !== null) await upload.abort().catch(ignore)
  }

  /**
   * The request's handler, after the shared checks and the access check for its COMMAND's scope. An
   * unknown COMMAND is answered only to a requester who may read, since the answer lists what is served.
   */
  private async handlerFor(message: Message): Promise<CommandHandler> {
    let handler: CommandHandler
    try {
      handler = this.dispatcher.handlerFor(message)
    } catch (error) {
      if (isIssError(error) && error.code === ErrorCode.UNKNOWN_COMMAND) await this.authorize(message, 'read')
      throw error
    }

    await this.authorize(message, this.dispatcher.scopeOf(message.COMMAND!))
    return handler
  }

  /** Judges the request's TOKEN (only one sent before FILE_DATA counts) against `needed`; throws the refusal. */
  private async authorize(message: Message, needed: Scope): Promise<void> {
    if (this.access === undefined || this.grantedFor === needed) return
    // Identified first, so that the log names the token even when its scope is too low.
    this.grant ??= await this.access.identify(message.TOKEN ?? null, this.peer)
    this.access.check(this.grant, needed, {
      command: message.COMMAND ?? undefined,
      tokenAfterData: message.tokenAfterData,
    })
    this.grantedFor = needed
  }

  private nameCheck(message: Message): () => string {
    this.imageName ??= nameCheck(message.FILENAME)
    return this.imageName
  }

  private async spool(sizeHint: number): Promise<Upload['sink']> {
    return this.hold(await this.store.spool(sizeHint)).sink
  }

  /** Keeps the upload, and the first failure of its sink (a full disk), which is answered at the end. */
  private hold(upload: Upload): Upload {
    this.upload = upload
    upload.sink.on('error', (error) => {
      this.uploadError ??= error
    })
    return upload
  }
}

function failed(message: Message) {
  return {command: message.COMMAND, filename: message.FILENAME, versioned: message.VERSION !== null}
}

/** Writes a held FILE_DATA into an upload's sink, honouring backpressure. */
async function write(upload: Upload, data: Buffer): Promise<void> {
  if (data.length === 0) return
  await new Promise<void>((resolve, reject) => {
    upload.sink.write(data, (error) => {
      if (error) reject(error)
      else resolve()
    })
  })
}
