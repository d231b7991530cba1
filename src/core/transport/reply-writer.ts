import type {Socket} from 'node:net'

import type {ByteOrder} from '../protocol/frame-header.js'
import {type ChunkedFrame, encodeFrame, encodeFrameChunks, encodeStreamingFrame} from '../protocol/message-writer.js'
import type {Reply} from '../reply.js'
import {longReplyTurns} from './send-turns.js'
import {waitForDrain} from './sink-feeder.js'

const PROTOCOL = 4
/** Bytes queued on the socket before a response's writer waits for it to drain. */
const OUTPUT_BOUND = 1024 * 1024
/**
 * Largest single socket write. Bytes count toward a slow reader's rate only when the socket has
 * handed a write to the kernel, so a write must be small enough that a reader above the minimum
 * rate completes one well within a rate window.
 */
const WRITE_PIECE = 64 * 1024
/** A reply up to this long is written at once; a longer one takes turns between its chunks. */
const SHORT_REPLY_BYTES = 768 * 1024
/** Output queued for a long reply before waiting for the peer (its chunks are made as needed). */
const LONG_REPLY_QUEUE = 256 * 1024

/** How one reply went out. */
export interface SentReply {
  /** FILE_DATA bytes the socket took. */
  readonly fileDataBytes: number
  /** False when the connection closed, or the data source failed, before the whole frame was queued. */
  readonly complete: boolean
}

/**
 * Encodes replies onto a socket: the frame header and pickle around FILE_DATA, which streams from
 * its source with bounded buffering (head, first chunk and tail in one corked write for a small
 * image). Reports bytes as the socket takes them, so that the connection's rate check sees a slow
 * reader's real progress.
 */
export class ReplyWriter {
  constructor(
    private readonly socket: Socket,
    private readonly onMoved: (bytes: number) => void,
    /** Wraps waits on our own work (reading the store), so that they are not charged to the peer. */
    private readonly own: <T>(promise: Promise<T>) => Promise<T>,
  ) {}

  /** Sends a whole frame for `reply`; resolves once it is queued within the output bound. */
  async send(reply: Reply, byteOrder: ByteOrder): Promise<SentReply> {
    const options = {protocol: PROTOCOL, byteOrder} as const
    const {fileData} = reply
    if (fileData === null || Buffer.isBuffer(fileData)) {
      const complete = await this.sendChunked(encodeFrameChunks({...reply.message, FILE_DATA: fileData}, options))
      return {fileDataBytes: fileData?.length ?? 0, complete: complete && !this.socket.destroyed}
    }

    const {head, tail} = encodeStreamingFrame(reply.message, fileData.length, options)
    let sent = 0
    let isTailQueued = false
    let isCorked = true
    this.socket.cork()
    try {
      this.queue(head)
      const iterator = fileData.stream[Symbol.asyncIterator]()
      for (;;) {
        const next = await this.own(iterator.next())
        if (next.done) break
        const chunk = next.value as Buffer
        sent += chunk.length
        if (sent > fileData.length || this.socket.destroyed) break
        this.queue(chunk)
        if (sent === fileData.length) {
          this.queue(tail)
          isTailQueued = true
        }

        if (isCorked) {
          isCorked = false
          this.socket.uncork()
        }

        await this.drained()
      }
    } finally {
      if (isCorked) this.socket.uncork()
      fileData.stream.destroy()
    }

    // A file that changed length under us cannot be framed any more: the peer must not trust it.
    if (sent !== fileData.length || this.socket.destroyed) {
      return {fileDataBytes: Math.min(sent, fileData.length), complete: false}
    }

    if (!isTailQueued) await this.write(tail)
    return {fileDataBytes: sent, complete: !this.socket.destroyed}
  }

  /**
   * A frame made chunk by chunk (a LIST of a million names is never held whole). A long one keeps at
   * most LONG_REPLY_QUEUE bytes queued and takes turns with other connections between chunks
   * (send-turns.ts), so that an ordinary answer, such as an `iss list` page, is never held up behind
   * 200 long listings; a short one goes out at once. False if the frame could not be finished.
   */
  private async sendChunked(frame: ChunkedFrame): Promise<boolean> {
    const isLong = frame.length > SHORT_REPLY_BYTES
    const bound = isLong ? LONG_REPLY_QUEUE : OUTPUT_BOUND
    let isStarted = false
    try {
      for (const chunk of frame.chunks) {
        if (isLong && isStarted) await longReplyTurns.take()
        if (this.socket.destroyed) return false
        isStarted = true
        this.queue(chunk)
        if (!this.socket.destroyed && this.socket.writableLength >= bound) await waitForDrain(this.socket)
      }
    } catch (error) {
      // Past the header the frame cannot be finished: the peer must not read what follows as a reply.
      if (!isStarted) throw error
      this.socket.destroy()
      return false
    }

    return true
  }

  /** Writes one frame without waiting (for answers sent while the connection is being torn down). */
  sendNow(reply: Reply, byteOrder: ByteOrder): void {
    this.queue(encodeFrame({...reply.message, FILE_DATA: null}, {protocol: PROTOCOL, byteOrder}))
  }

  private async write(buffer: Buffer): Promise<void> {
    this.queue(buffer)
    await this.drained()
  }

  private queue(buffer: Buffer): void {
    if (this.socket.destroyed) return
    for (let at = 0; at < buffer.length; at += WRITE_PIECE) {
      const piece = at === 0 && buffer.length <= WRITE_PIECE ? buffer : buffer.subarray(at, at + WRITE_PIECE)
      this.socket.write(piece, (error) => {
        if (!error) this.onMoved(piece.length)
      })
    }
  }

  /**
   * Past the socket's small high-water mark, keep queueing up to OUTPUT_BOUND: the next read from
   * disk then overlaps with the send instead of waiting for an empty buffer each time.
   */
  private async drained(): Promise<void> {
    if (!this.socket.destroyed && this.socket.writableLength >= OUTPUT_BOUND) await waitForDrain(this.socket)
  }
}
