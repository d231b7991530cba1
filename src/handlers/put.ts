import type {CommandHandler, HandlerRequest, HandlerResponse} from '../core/handler.js'
import {familyOf, validateImageName} from '../core/images/names.js'
import {matchesFamily} from '../core/images/sniff.js'
import {errors} from '../core/errors.js'
/** PUT: stores the request's FILE_DATA under FILENAME, never replacing an image of the same identity. */
export default class PutHandler implements CommandHandler {
  /** Nothing to inject: the upload the server hands over publishes itself. */
  static readonly inject: readonly symbol[] = []

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a PUT needs a FILENAME')
    const name = validateImageName(request.filename)
    const {upload} = request
    if (!upload || upload.bytesWritten === 0) throw errors.empty(name)
    const family = familyOf(name)!
    if (!matchesFamily(upload.head(), family)) throw errors.contentMismatch(name, family)
    const stored = await upload.commit(name)
    return {filename: stored.name, details: `File '${stored.name}' stored on server (${stored.size} bytes)`}
  }
}
