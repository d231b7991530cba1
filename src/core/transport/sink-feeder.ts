import type {Socket} from 'node:net'
import type {Writable} from 'node:stream'

/**
 * Writes into a sink with bounded buffering. Unlike waiting for 'drain' (an empty buffer), a writer
 * waits only while the sink holds its high-water mark or more, and goes on as soon as one write
 * completes: the socket is read while the disk writes, and memory stays within the sink's bound
 * plus one chunk.
 */
export class SinkFeeder {
  private pending = 0
  private waiter: {readonly resolve: () => void; readonly flush: boolean} | null = null

  constructor(readonly sink: Writable) {
    const wake = () => {
      this.wake()
    }
    sink.once('close', wake)
    sink.once('error', wake)
  }

  /** Undefined when the caller may go on at once; else a promise that settles once there is room (or the sink failed). */
  write(chunk: Buffer): Promise<void> | undefined {
    this.pending++
    this.sink.write(chunk, this.written)
    if (this.hasRoom()) return undefined
    return new Promise((resolve) => {
      this.waiter = {resolve, flush: false}
    })
  }

  /** Settles when every chunk written so far has reached the sink's target (or the sink failed). */
  async flushed(): Promise<void> {
    if (this.pending === 0 || this.sink.destroyed) return
    return new Promise((resolve) => {
      this.waiter = {resolve, flush: true}
    })
  }

  private hasRoom(): boolean {
    return this.sink.writableLength < this.sink.writableHighWaterMark || this.sink.destroyed
  }

  private readonly written = (): void => {
    this.pending--
    const {waiter} = this
    if (waiter && (waiter.flush ? this.pending === 0 : this.hasRoom())) this.wake()
  }

  private wake(): void {
    const {waiter} = this
    this.waiter = null
    waiter?.resolve()
  }
}

/** Resolves on 'drain', or when the stream closes or fails (the caller then sees the closed state). */
export async function waitForDrain(stream: Writable | Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      stream.off('error', done)
      resolve()
    }

    stream.on('drain', done)
    stream.on('close', done)
    stream.on('error', done)
  })
}
