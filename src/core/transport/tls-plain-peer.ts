import type {Socket} from 'node:net'

import {errors} from '../errors.js'
import {FRAME_HEADER_BYTES} from '../protocol/frame-header.js'
import {encodeFrame} from '../protocol/message-writer.js'
import {guessByteOrder} from './server-connection.js'

/** Longest wait for the frame header of a plain peer, to answer in its byte order. */
const HEADER_WAIT_MS = 2000
/** Bytes discarded beyond what the peer's frame announced (or, with no header, in all). */
const SLACK_BYTES = 64 * 1024

export interface PlainPeerLimits {
  /** How long the rest of the peer's request is read and discarded after the answer. */
  readonly lingerMs: number
  /** Largest frame length believed when bounding what is discarded. */
  readonly maxFrameBytes: number
}

/**
 * Answers a peer that spoke clear text to a TLS port (an iss client without --tls, a seed client without
 * ssl) with one ERROR in clear text (the five seed keys, E_TLS_REQUIRED's DETAILS), in the byte order
 * of its frame header, then reads and drops what it still sends of that frame (bounded in bytes and
 * time) so that a client that writes its whole request before reading still gets the answer, and closes.
 * Returns the answer's DETAILS, for the log.
 */
export function refusePlainPeer(socket: Socket, limits: PlainPeerLimits): string {
  const error = errors.tlsRequired()
  let header = Buffer.alloc(0)
  let received = 0
  let budget = Infinity
  let isAnswered = false
  const answer = () => {
    if (isAnswered) return
    isAnswered = true
    const byteOrder = guessByteOrder(header)
    const announced =
      header.length >= FRAME_HEADER_BYTES ? (byteOrder === 'big' ? header.readUInt32BE(0) : header.readUInt32LE(0)) : 0
    budget = FRAME_HEADER_BYTES + Math.min(announced, limits.maxFrameBytes) + SLACK_BYTES - received
    const message = {COMMAND: null, STATUS: 'ERROR', DETAILS: error.message, FILENAME: null, FILE_DATA: null}
    socket.end(encodeFrame(message, {protocol: 4, byteOrder}))
  }

  const headerTimer = setTimeout(answer, HEADER_WAIT_MS)
  const lingerTimer = setTimeout(() => socket.destroy(), HEADER_WAIT_MS + limits.lingerMs)
  headerTimer.unref()
  lingerTimer.unref()
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
    if (!isAnswered) {
      header = Buffer.concat([header, chunk.subarray(0, FRAME_HEADER_BYTES)]).subarray(0, FRAME_HEADER_BYTES)
      if (header.length >= FRAME_HEADER_BYTES) answer()
      if (received <= budget) return
    }
    if (received > budget) socket.destroy()
  })
  socket.on('end', () => {
    answer()
    socket.destroy()
  })
  socket.on('error', () => socket.destroy())
  socket.on('close', () => {
    clearTimeout(headerTimer)
    clearTimeout(lingerTimer)
  })
  socket.resume()
  return error.message
}
