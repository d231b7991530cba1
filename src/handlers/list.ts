import type {CommandHandler, HandlerResponse} from '../core/handler.js'
import type {ImageStore} from '../core/store/store.js'
import {Tokens} from '../core/tokens.js'

/** The DETAILS of a LIST on an empty store, a message as the seed describes. */
export const EMPTY_STORE_MESSAGE = 'No files on server'

/** LIST: the stored names, sorted by identity key, or a message when there are none. */
export default class ListHandler implements CommandHandler {
  static readonly inject = [Tokens.Store]

  constructor(private readonly store: ImageStore) {}

  async handle(): Promise<HandlerResponse> {
    const images = await this.store.list()
    return {details: images.length === 0 ? EMPTY_STORE_MESSAGE : images.map((image) => image.name)}
  }
}
