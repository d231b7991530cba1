import {
  assertContentMatchesName,
  type CommandHandler,
  ErrorCode,
  errors,
  type HandlerRequest,
  type HandlerResponse,
  type ImageStore,
  IssError,
  Tokens,
  validateImageName,
} from 'image-sharing-service'

/**
 * RENAME: FILENAME is a stored image's name (matched case-insensitively), DETAILS the new name; the
 * answer's FILENAME is the new stored name. Atomic and never replacing (the store's `rename`), and the
 * image's bytes must match the new name's type (PNG bytes never become a .jpg). Declared with scope
 * `delete`: the old name disappears, as with DELETE.
 */
export default class RenameHandler implements CommandHandler {
  // The constructor's dependencies, in order, as DI tokens: this works whatever compiles the file.
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a RENAME needs a FILENAME (the stored name)')
    const from = validateImageName(request.filename)
    if (typeof request.details !== 'string') {
      throw errors.badName('None', 'a RENAME needs DETAILS: the new name, as a string')
    }

    if (this.store.rename === undefined) {
      throw new IssError(ErrorCode.INTERNAL, `The store ${this.store.describe()} cannot rename images`)
    }

    const to = validateImageName(request.details)

    // E_NOT_FOUND here when `from` is not stored; the check reads the first 33 bytes only.
    const opened = await this.store.openRead(from)
    await assertContentMatchesName(to, opened)
    const renamed = await this.store.rename(opened.image.name, to)
    return {filename: renamed.name, details: `File '${opened.image.name}' renamed to '${renamed.name}'`}
  }
}
