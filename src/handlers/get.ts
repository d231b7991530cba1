import type {CommandHandler, HandlerRequest, HandlerResponse} from '../core/handler.js'
import {errors} from '../core/errors.js'
import type {ImageStore} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/** GET: streams a stored image back; the name resolves case-insensitively and FILENAME is the stored name. */
export default class GetHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a GET needs a FILENAME')
    const name = request.imageName()
    const {image, stream} = await this.store.openRead(name)
    return {filename: image.name, details: null, fileData: {length: image.size, stream}}
  }
}
