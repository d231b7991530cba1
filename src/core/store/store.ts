import type {Readable, Writable} from 'node:stream'

/** What the store knows of one image. */
export interface StoredImage {
  /** The stored name: NFC form, case as first uploaded. */
  readonly name: string
  readonly size: number
  readonly modifiedMs: number
  /**
   * SHA-256 of the image's bytes as lowercase hex (64 characters), computed while they streamed in
   * and kept with the image. Absent when the backend does not keep digests (a plugin's store of SDK
   * 2.0) or has not computed it yet for an image added outside the server.
   */
  readonly sha256?: string
}

/** Part of an image to read: from byte `offset` (0-based), `length` bytes or to the end. */
export interface ReadRange {
  readonly offset: number
  /** At most this many bytes; absent: to the end of the image. */
  readonly length?: number
}

/** What {@link Upload.commit} may be asked to check before it publishes. */
export interface CommitExpectation {
  /**
   * The SHA-256 (lowercase hex) the peer says it sent. A backend that computes digests compares it
   * with its own after the last byte and before publishing, and throws E_DIGEST_MISMATCH (nothing
   * published) when they differ.
   */
  readonly sha256?: string
}

/** A page of a listing; without either key, {@link ImageStore.list} gives every image. */
export interface ListOptions {
  /** An identity key: only images whose key sorts after it (it need not be a stored key). */
  readonly after?: string
  /** At most this many images. */
  readonly limit?: number
  /**
   * Fill in `sha256` where the backend keeps it (a long listing). Without it, backends may leave
   * digests out. A listing never computes a missing digest.
   */
  readonly digests?: boolean
}

/**
 * An upload in progress: bytes are written to `sink` as they arrive (before the name may even be
 * known), then published under a name with {@link Upload.commit}, or thrown away with {@link Upload.abort}.
 * Nothing of an upload is ever visible under a stored name until commit succeeds.
 */
export interface Upload {
  /** Where the data goes. Honour backpressure (write() returning false). */
  readonly sink: Writable
  /** Bytes written to the sink so far. */
  readonly bytesWritten: number
  /** The first bytes written (up to SNIFF_BYTES, 33), for content sniffing. */
  head(): Buffer
  /**
   * Flushes, makes the data durable and publishes it under `name` without ever replacing an
   * existing image (identity key). Throws E_DUPLICATE if the name is taken, E_DIGEST_MISMATCH if
   * `expect.sha256` differs from the bytes' digest. The upload is finished either way. The returned
   * image carries `sha256` when the backend keeps digests.
   */
  commit(name: string, expect?: CommitExpectation): Promise<StoredImage>
  /** Discards the data. Safe to call at any time and more than once. */
  abort(): Promise<void>
}

/**
 * An image opened for reading. Without a range its stream has exactly `image.size` bytes; with one,
 * it starts at `offset` and has min(range length, size - offset) bytes. `image.size` is always the
 * whole image's size.
 */
export interface OpenedImage {
  readonly image: StoredImage
  readonly stream: Readable
  /**
   * Where the stream starts, in bytes. A backend that honours a range sets it to the range's offset;
   * absent means 0 (a backend of SDK 2.0 that ignores ranges sends the whole image).
   */
  readonly offset?: number
}

/**
 * Where images live. Handlers receive it through the container (token `Tokens.Store`) so that
 * another backend can replace the filesystem without touching them. Names passed in are looked up
 * by identity key (NFC, case-insensitive).
 */
export interface ImageStore {
  /** Takes the store (lock, sweep of temporary files). */
  open(): Promise<void>
  /** Releases the store and removes temporary files. */
  close(): Promise<void>
  /**
   * Starts an upload that will be published under `name` (a validated image name), before any byte
   * of it is stored: the store checks up front what it can (E_DUPLICATE when the identity is taken
   * now, E_TOO_LARGE / E_NO_SPACE for `sizeHint`, the announced upper bound of the size in bytes,
   * which it may reserve) and may stream the bytes straight to their final place (an object store).
   * The upload's `commit(name)` must be given the same name.
   */
  beginUpload(name: string, sizeHint: number): Promise<Upload>
  /**
   * Starts an upload whose name is not known yet (a hand-made pickle that puts FILE_DATA before
   * COMMAND or FILENAME): the bytes go to the store's own temporary area, never visible, and the
   * handler names them at the end with `commit(name)`. `sizeHint` as for {@link beginUpload}; undefined when unknown.
   */
  spool(sizeHint?: number): Promise<Upload>
  /**
   * Opens an image for reading, from `range.offset` when given (an offset at or past the end gives an
   * empty stream); E_NOT_FOUND if there is none.
   */
  openRead(name: string, range?: ReadRange): Promise<OpenedImage>
  /**
   * The stored images sorted by identity key (code point order): every one, or a page of those whose
   * key sorts after `options.after`, at most `options.limit`. Callers must not change the array (a
   * whole listing may be shared between concurrent callers).
   */
  list(options?: ListOptions): Promise<readonly StoredImage[]>
  /** One image's facts, or null. */
  stat(name: string): Promise<StoredImage | null>
  /** Removes an image atomically; E_NOT_FOUND if there is none. Returns what was removed. */
  delete(name: string): Promise<StoredImage>
  /**
   * Gives the stored image `from` (looked up by identity key) the name `to` atomically, never
   * replacing another image: resolves to the image under its new stored name (same size, time and
   * bytes). `to` may differ from the stored name only in case. It does not check content: a handler
   * calls `assertContentMatchesName(to, await store.openRead(from))` first. Optional: a backend
   * without it has no RENAME (the filesystem store links the new name, then unlinks the old, under
   * both key locks; an object store claims the new name, then releases the old).
   *
   * @throws {IssError} E_NOT_FOUND when `from` is not stored; E_DUPLICATE when `to` is taken (or is
   *   exactly the stored name); E_BAD_NAME or E_UNSUPPORTED_TYPE for an invalid `to`; E_NO_SPACE or
   *   E_READ_ONLY from the disk.
   */
  rename?(from: string, to: string): Promise<StoredImage>
  /** Human-readable location, for start-up output. */
  describe(): string
}
