import type {ServerEventBus} from '../events.js'
import type {CommitExpectation, ImageStore, OpenedImage, ReadRange, StoredImage, Upload} from './store.js'

/** An upload whose successful commit is announced as `image.published`. */
class EventedUpload implements Upload {
  constructor(
    private readonly inner: Upload,
    private readonly events: ServerEventBus,
  ) {}

  get sink() {
    return this.inner.sink
  }

  get bytesWritten(): number {
    return this.inner.bytesWritten
  }

  head(): Buffer {
    return this.inner.head()
  }

  async commit(name: string, expect?: CommitExpectation): Promise<StoredImage> {
    // The backend resolves only once the image is durable under its name.
    const image = await this.inner.commit(name, expect)
    this.events.emit('image.published', {image})
    return image
  }

  async abort(): Promise<void> {
    return this.inner.abort()
  }
}

/**
 * Wraps any store backend so that every change it makes durable is announced on the server's
 * event bus, whichever handler (core or plugin) made it. Reads pass straight through.
 */
export class EventedStore implements ImageStore {
  constructor(
    readonly inner: ImageStore,
    private readonly events: ServerEventBus,
  ) {
    const {rename} = inner
    if (rename !== undefined) {
      this.rename = async (from: string, to: string) => {
        const before = await inner.stat(from)
        const after = await rename.call(inner, from, to)
        this.events.emit('image.renamed', {from: before ?? {...after, name: from}, to: after})
        return after
      }
    }
  }

  readonly rename?: (from: string, to: string) => Promise<StoredImage>

  async open(): Promise<void> {
    return this.inner.open()
  }

  async close(): Promise<void> {
    return this.inner.close()
  }

  async beginUpload(name: string, sizeHint: number): Promise<Upload> {
    return new EventedUpload(await this.inner.beginUpload(name, sizeHint), this.events)
  }

  async spool(sizeHint?: number): Promise<Upload> {
    return new EventedUpload(await this.inner.spool(sizeHint), this.events)
  }

  async openRead(name: string, range?: ReadRange): Promise<OpenedImage> {
    return this.inner.openRead(name, range)
  }

  // Whatever list() takes (paging, streaming), the wrapper passes through unchanged.
  // eslint-disable-next-line @typescript-eslint/promise-function-async -- its return type is the backend's, not necessarily a promise
  list(...args: Parameters<ImageStore['list']>): ReturnType<ImageStore['list']> {
    return this.inner.list(...args)
  }

  async stat(name: string): Promise<StoredImage | null> {
    return this.inner.stat(name)
  }

  async delete(name: string): Promise<StoredImage> {
    const image = await this.inner.delete(name)
    this.events.emit('image.deleted', {image})
    return image
  }

  describe(): string {
    return this.inner.describe()
  }
}
