import type {CommandHandler, HandlerRequest, HandlerResponse, RequestHead} from '../core/handler.js'
import {familyOf} from '../core/images/names.js'
import {matchesFamily} from '../core/images/sniff.js'
import {errors} from '../core/errors.js'
import type {ImageStore, Upload} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/** PUT: stores the request's FILE_DATA under FILENAME, never replacing an image of the same identity. */
export default class PutHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  /** Name, emptiness, duplicates, size and space are judged here, before a byte is stored. */
  async accept(head: RequestHead): Promise<Upload> {
    if (head.filename === null) throw errors.badName('None', 'a PUT needs a FILENAME')
    const name = head.imageName()
    if (head.sizeHint === 0) throw errors.empty(name)
    return this.store.beginUpload(name, head.sizeHint)
  }

  async handle(request: HandlerRequest): Promise<HandlerResponse> {
    if (request.filename === null) throw errors.badName('None', 'a PUT needs a FILENAME')
    const name = request.imageName()
    const {upload} = request
    if (!upload || upload.bytesWritten === 0) throw errors.empty(name)
    const family = familyOf(name)!
    if (!matchesFamily(upload.head(), family, upload.bytesWritten)) throw errors.contentMismatch(name, family)
    const stored = await upload.commit(name)
    return {filename: stored.name, details: `File '${stored.name}' stored on server (${stored.size} bytes)`}
  }
}
