import {type ByteOrder, FRAME_HEADER_BYTES, frameHeader, orderFreeLength} from './frame-header.js'
import type {Message} from './message.js'
import {
  BytesHole,
  DEFAULT_PROTOCOL,
  type EncodableValue,
  encodePickleParts,
  encodeStringList,
  ListHole,
  measureStringList,
  type PickleProtocol,
  type StringList,
} from './pickle-encoder.js'
import type {PickleValue} from './values.js'

/** A message to send; keys in seed order (COMMAND, STATUS, DETAILS, FILENAME), then `extra` keys in insertion order, then FILE_DATA last. */
export interface OutgoingMessage {
  COMMAND: string | null
  STATUS: string | null
  /** A message, or a list of str (an array, or any lazy `StringList`, encoded as it goes). */
  DETAILS: string | StringList | null
  FILENAME: string | null
  FILE_DATA: Buffer | null
  /** Extension keys (VERSION, CODE, COMMANDS, ...). Python ints are bigints here: a JS number is a float. */
  extra?: Record<string, PickleValue>
  /**
   * Keys encoded after FILE_DATA: only what cannot be known before the data has gone out (a PUT's
   * SHA256, computed while sending). Everything known up front belongs in `extra`, before FILE_DATA.
   */
  trailing?: Record<string, PickleValue>
}

export interface FrameOptions {
  /** Pickle protocol, 2 to 5; default 4. */
  protocol?: PickleProtocol
  /** Header byte order; default 'big'. */
  byteOrder?: ByteOrder
  /**
   * Pad the pickle with a {@link PAD_KEY} key (before FILE_DATA) to a length whose header reads the
   * same in both byte orders ({@link orderFreeLength}): costs at most 64 KiB, and lets a client whose
   * first request goes to a server of unknown byte order be read right by either kind.
   */
  orderFree?: boolean
}

/** The extension key that pads a frame to an order-free length; receivers ignore it, as any unknown key. */
export const PAD_KEY = 'PAD'

/** A frame whose FILE_DATA the caller sends between `head` and `tail`. */
export interface StreamingFrame {
  /** The 4-byte header (with the final frame length) and the pickle up to the first FILE_DATA byte. */
  head: Buffer
  /** The rest of the pickle after the last FILE_DATA byte. */
  tail: Buffer
  /** The pickle's length, as written in the header (header bytes not included). */
  frameLength: number
}

const MAX_FRAME_LENGTH = 0xffff_ffff

/** A frame to write as it is encoded: `length` bytes in all (header included), from `chunks`. */
export interface ChunkedFrame {
  /** Bytes on the wire: the 4-byte header plus the pickle. */
  readonly length: number
  /** Iterate once: the header first, then the pickle in Buffers of about `chunkBytes`, each made when asked for. */
  readonly chunks: Iterable<Buffer>
}

function toDict(
  message: Omit<OutgoingMessage, 'FILE_DATA'>,
  fileData: Buffer | BytesHole | null,
  details: EncodableValue | ListHole = copyDetails(message.DETAILS),
): Map<string, EncodableValue | BytesHole | ListHole> {
  const dict = new Map<string, EncodableValue | BytesHole | ListHole>([
    ['COMMAND', message.COMMAND],
    ['STATUS', message.STATUS],
    ['DETAILS', details],
    ['FILENAME', message.FILENAME],
  ])
  for (const [key, value] of Object.entries(message.extra ?? {})) {
    // A second FILE_DATA or STATUS would silently replace the first on the peer.
    if (dict.has(key) || key === 'FILE_DATA') throw new TypeError(`encodeFrame: extra key ${key} is a seed key`)
    dict.set(key, value)
  }
  // FILE_DATA goes last, as in the seed's dict literal: every other key is then part of the
  // request head, which the receiver can act on before the data arrives.
  dict.set('FILE_DATA', fileData)
  for (const [key, value] of Object.entries(message.trailing ?? {})) {
    if (dict.has(key)) throw new TypeError(`encodeFrame: trailing key ${key} is already in the message`)
    dict.set(key, value)
  }
  return dict
}

function copyDetails(details: OutgoingMessage['DETAILS']): EncodableValue {
  return details === null || typeof details === 'string' ? details : [...details]
}

function checkLength(length: number): void {
  if (length > MAX_FRAME_LENGTH)
    throw new RangeError(
      `A frame of ${length} bytes does not fit the 4-byte length header (at most ${MAX_FRAME_LENGTH})`,
    )
}

/**
 * `message` with a {@link PAD_KEY} str of spaces sized so that `measure` (the frame length it would have)
 * is order-free. The pad's own encoding grows by a few bytes past 255 characters, so the lengths near the
 * first guess are tried before the next order-free length.
 */
function padOrderFree<M extends Omit<OutgoingMessage, 'FILE_DATA'>>(message: M, measure: (padded: M) => number): M {
  const padded = (pad: number): M => ({...message, extra: {...message.extra, [PAD_KEY]: ' '.repeat(pad)}})
  let target = orderFreeLength(measure(padded(0)))
  for (;;) {
    const guess = target - measure(padded(0))
    for (let pad = Math.max(0, guess - 8); pad <= guess; pad++) {
      const candidate = padded(pad)
      if (measure(candidate) === target) return candidate
    }
    target = orderFreeLength(target + 1)
  }
}

/** The whole frame: 4-byte header + pickle. */
export function encodeFrame(message: OutgoingMessage, options: FrameOptions = {}): Buffer {
  const measure = (m: OutgoingMessage) => encodePickleParts(toDict(m, m.FILE_DATA), {protocol: options.protocol}).length
  const sent = options.orderFree === true ? padOrderFree(message, measure) : message
  const {parts, length} = encodePickleParts(toDict(sent, sent.FILE_DATA), {protocol: options.protocol})
  checkLength(length)
  return Buffer.concat([frameHeader(length, options.byteOrder ?? 'big'), ...parts], FRAME_HEADER_BYTES + length)
}

/**
 * The frame {@link encodeFrame} makes, byte for byte, but with a list DETAILS (a LIST answer of a million
 * names) encoded only as the chunks are taken: the names are read once to measure the exact length for
 * the header, and once more as the chunks are made, so memory is one chunk (about `chunkBytes`, default
 * 64 KiB) whatever the list's size. The list must give the same strings both times (a snapshot); if it
 * does not, iterating `chunks` throws. A DETAILS that is not a list gives one chunk, the whole frame.
 */
export function encodeFrameChunks(
  message: OutgoingMessage,
  options: FrameOptions & {chunkBytes?: number} = {},
): ChunkedFrame {
  const {DETAILS} = message
  if (DETAILS === null || typeof DETAILS === 'string') {
    const frame = encodeFrame(message, options)
    return {length: frame.length, chunks: [frame]}
  }
  const protocol = options.protocol ?? DEFAULT_PROTOCOL
  const listLength = measureStringList(DETAILS, {protocol})
  const dict = toDict(message, message.FILE_DATA, new ListHole(DETAILS, listLength))
  const {parts, length, hole} = encodePickleParts(dict, {protocol})
  const frameLength = length + listLength
  checkLength(frameLength)
  const head = Buffer.concat([frameHeader(frameLength, options.byteOrder ?? 'big'), ...parts.slice(0, hole)])
  const tail = Buffer.concat(parts.slice(hole))
  function* chunks(): Generator<Buffer, void, undefined> {
    yield head
    yield* encodeStringList(DETAILS as StringList, {
      protocol,
      chunkBytes: options.chunkBytes,
      expectedLength: listLength,
    })
    yield tail
  }
  return {length: FRAME_HEADER_BYTES + frameLength, chunks: chunks()}
}

/**
 * A frame whose FILE_DATA (exactly `fileDataLength` bytes) is sent between `head` and `tail` by the
 * caller, never buffered; `head` starts with the header holding the final frame length, so the length
 * is known before the first byte goes out. `head + data + tail` is byte-identical to
 * {@link encodeFrame} with the same data. Protocols 3 to 5 only: at protocol 2 bytes become a latin-1
 * str whose length depends on the content.
 */
export function encodeStreamingFrame(
  message: Omit<OutgoingMessage, 'FILE_DATA'>,
  fileDataLength: number,
  options: FrameOptions = {},
): StreamingFrame {
  if (!Number.isSafeInteger(fileDataLength) || fileDataLength < 0)
    throw new RangeError(`encodeStreamingFrame: fileDataLength must be a byte count, not ${fileDataLength}`)
  const protocol = options.protocol ?? DEFAULT_PROTOCOL
  const measure = (m: Omit<OutgoingMessage, 'FILE_DATA'>) =>
    encodePickleParts(toDict(m, new BytesHole(fileDataLength)), {protocol}).length + fileDataLength
  const sent = options.orderFree === true ? padOrderFree(message, measure) : message
  const {parts, length, hole} = encodePickleParts(toDict(sent, new BytesHole(fileDataLength)), {protocol})
  const frameLength = length + fileDataLength
  checkLength(frameLength)
  const before = parts.slice(0, hole)
  return {
    head: Buffer.concat([frameHeader(frameLength, options.byteOrder ?? 'big'), ...before]),
    tail: Buffer.concat(parts.slice(hole)),
    frameLength,
  }
}

/**
 * The response to `request` as it goes on the wire: a seed request (no VERSION) gets exactly the five
 * seed keys, so `extra` is dropped; an iss request keeps them.
 */
export function responseFor(request: Pick<Message, 'VERSION'>, response: OutgoingMessage): OutgoingMessage {
  if (request.VERSION !== null) return response
  const {COMMAND, STATUS, DETAILS, FILENAME, FILE_DATA} = response
  return {COMMAND, STATUS, DETAILS, FILENAME, FILE_DATA}
}
