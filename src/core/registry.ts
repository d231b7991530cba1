import type {Scope} from './access/scope.js'
import type {CommandHandlerClass} from './handler.js'

/** A COMMAND as one plugin declares it, with the handler class loaded from the plugin. */
export interface HandlerDeclaration {
  /** The protocol COMMAND, exactly as clients send it (e.g. 'PUT'). */
  readonly command: string
  /** The npm name of the plugin that declared it (the core package for PUT, GET, LIST). */
  readonly plugin: string
  /** Absolute path of the module the class was loaded from, for start-up output. */
  readonly modulePath: string
  readonly handlerClass: CommandHandlerClass
  /** The scope a request for this COMMAND needs (declared with it; admin when the plugin names none). */
  readonly scope: Scope
}

/** Start-up codes: these never reach a peer, so they live outside the protocol catalogue. */
export type StartupErrorCode =
  | 'ISS_HANDLER_CONFLICT'
  | 'ISS_BAD_HANDLER'
  | 'ISS_SDK_API'
  | 'ISS_BAD_STORAGE'
  /** A plugin module that cannot be loaded at all (missing file, throws on load): the plugin is skipped. */
  | 'ISS_UNLOADABLE'

/** A problem found while assembling the server, before any connection is accepted. */
export class StartupError extends Error {
  constructor(
    readonly code: StartupErrorCode,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(message, options)
    this.name = 'StartupError'
  }
}

/** COMMAND -> the one handler declaration serving it. Filled by discovery, read by dispatch. */
export class HandlerRegistry {
  private readonly byCommand = new Map<string, HandlerDeclaration>()

  /** Adds a declaration; a COMMAND claimed twice is a start-up error naming both plugins. */
  add(declaration: HandlerDeclaration): void {
    this.assertUnclaimed(declaration.command, declaration.plugin)
    this.byCommand.set(declaration.command, declaration)
  }

  /** Throws the conflict error if `command` is already served; lets discovery fail before loading code. */
  assertUnclaimed(command: string, plugin: string): void {
    const existing = this.byCommand.get(command)
    if (existing) {
      throw new StartupError(
        'ISS_HANDLER_CONFLICT',
        `Command ${command} is declared by both plugin '${existing.plugin}' and plugin '${plugin}'; ` +
          `uninstall one of them`,
      )
    }
  }

  get(command: string): HandlerDeclaration | undefined {
    return this.byCommand.get(command)
  }

  /** The served COMMANDs, sorted, as E_UNKNOWN_COMMAND reports them. */
  commands(): string[] {
    return [...this.byCommand.keys()].toSorted()
  }

  /** Every declaration, sorted by COMMAND. */
  declarations(): HandlerDeclaration[] {
    return this.commands().map((command) => this.byCommand.get(command)!)
  }
}
