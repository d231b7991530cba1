import {
  type CommandHandler,
  errors,
  type HandlerRequest,
  type HandlerResponse,
  type ImageStore,
  Tokens,
  validateImageName,
} from 'image-sharing-service'

/**
 * DELETE: removes a stored image. The name resolves case-insensitively like every core command;
 * FILENAME in the answer is the name the image was stored under.
 */
export default class DeleteHandler implements CommandHandler {
  // Explicit tokens: this class is built by the host's container whatever compiled it.
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a DELETE needs a FILENAME')
    const removed = await this.store.delete(validateImageName(request.filename))
    return {filename: removed.name, details: `File '${removed.name}' deleted`}
  }
}
