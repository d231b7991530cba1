import {FRAME_HEADER_BYTES} from './frame-header.js'
import {Op} from './opcodes.js'

/** Bytes needed to judge a connection's start: the frame header and the pickle's first opcode. */
export const FIRST_BYTES = FRAME_HEADER_BYTES + 1

/** What a connection's first bytes were, when they cannot start a frame of this protocol. */
export type ForeignStart = 'HTTP' | 'TLS' | 'SSH' | 'other'

// RFC 9110 methods, and the HTTP/2 connection preface (RFC 9113 section 3.4: "PRI * HTTP/2.0").
const HTTP_METHODS = new Set(['CONN', 'DELE', 'GET ', 'HEAD', 'OPTI', 'PATC', 'POST', 'PRI ', 'PUT ', 'TRAC'])
const DICT_STARTS = new Set<number>([Op.EMPTY_DICT, Op.MARK, Op.PROTO])

/**
 * Judges the first {@link FIRST_BYTES} (or more) bytes of a connection: null when they can start a
 * frame (the byte after the 4-byte header is PROTO, MARK or EMPTY_DICT, the only ways CPython
 * starts a pickled dict at protocols 0 to 5), otherwise what they look like. Signatures are checked
 * first, because a TLS ClientHello's first 4 bytes read as a plausible length in both byte orders:
 * TLS records start 0x16 0x03 (RFC 8446 section 5.1: handshake, legacy version 3.x), SSH with
 * "SSH-" (RFC 4253 section 4.2).
 */
export function foreignStart(first: Buffer): ForeignStart | null {
  if (first.length < FIRST_BYTES) return null
  const text = first.toString('latin1', 0, 4)
  if (first[0] === 0x16 && first[1] === 0x03) return 'TLS'
  if (text === 'SSH-') return 'SSH'
  if (HTTP_METHODS.has(text)) return 'HTTP'
  const opcode = first[FRAME_HEADER_BYTES]
  if (DICT_STARTS.has(opcode)) return null
  return 'other'
}

/** The DETAILS of the one ERROR a foreign connection gets: what was seen, and what this port speaks. */
export function foreignStartMessage(kind: ForeignStart): string {
  const speaks = 'this port speaks the iss image protocol (4-byte length + pickle)'
  switch (kind) {
    case 'HTTP': {
      return `${speaks}, not HTTP`
    }

    case 'TLS': {
      return `${speaks}, not TLS: connect without TLS, or to a server started with TLS`
    }

    case 'SSH': {
      return `${speaks}, not SSH`
    }

    case 'other': {
      return `Malformed message: the first bytes cannot start a frame (a pickled dict); ${speaks}`
    }
  }
}
