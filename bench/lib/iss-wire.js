'use strict'
// The seed's wire format, written here independently of src/ so that the bench's load generator
// stays cheap and does not measure our own codec on both ends: a 4-byte big-endian length, then a
// protocol 4 pickle of a flat dict (str keys; str, int, None or bytes values).

const PROTO = 0x80
const EMPTY_DICT = 0x7d
const MARK = 0x28
const SETITEMS = 0x75
const STOP = 0x2e
const NONE = 0x4e
const BININT1 = 0x4b
const BININT = 0x4a
const SHORT_BINUNICODE = 0x8c
const BINUNICODE = 0x58
const SHORT_BINBYTES = 0x43
const BINBYTES = 0x42

function str(value) {
  const bytes = Buffer.from(value, 'utf8')
  if (bytes.length < 256) return Buffer.concat([Buffer.from([SHORT_BINUNICODE, bytes.length]), bytes])
  const head = Buffer.alloc(5)
  head[0] = BINUNICODE
  head.writeUInt32LE(bytes.length, 1)
  return Buffer.concat([head, bytes])
}

function int(value) {
  if (value >= 0 && value < 256) return Buffer.from([BININT1, value])
  const out = Buffer.alloc(5)
  out[0] = BININT
  out.writeInt32LE(value, 1)
  return out
}

function bytesHead(length) {
  if (length < 256) return Buffer.from([SHORT_BINBYTES, length])
  const head = Buffer.alloc(5)
  head[0] = BINBYTES
  head.writeUInt32LE(length, 1)
  return head
}

/**
 * A request (or, with `status`, a response) frame as buffers to write in order: [header+pickle up to FILE_DATA, data?, rest].
 * `data` is never copied, so one 100 KB buffer serves every PUT.
 */
function requestFrame({command, status = 'REQUEST', filename = null, data = null, version = true}) {
  const before = [
    Buffer.from([PROTO, 4, EMPTY_DICT, MARK]),
    str('COMMAND'),
    str(command),
    str('STATUS'),
    str(status),
    str('DETAILS'),
    Buffer.from([NONE]),
    str('FILENAME'),
    filename === null ? Buffer.from([NONE]) : str(filename),
  ]
  const after = []
  if (data === null) {
    before.push(str('FILE_DATA'), Buffer.from([NONE]))
  } else {
    before.push(str('FILE_DATA'), bytesHead(data.length))
  }
  if (version) after.push(str('VERSION'), int(1))
  after.push(Buffer.from([SETITEMS, STOP]))
  const head = Buffer.concat(before)
  const tail = Buffer.concat(after)
  const length = head.length + (data ? data.length : 0) + tail.length
  const header = Buffer.alloc(4)
  header.writeUInt32BE(length, 0)
  return data ? [Buffer.concat([header, head]), data, tail] : [Buffer.concat([header, head, tail])]
}

const OK = Buffer.from([SHORT_BINUNICODE, 2, 0x4f, 0x4b])
const ERROR = Buffer.from([SHORT_BINUNICODE, 5, ...Buffer.from('ERROR')])

/**
 * Splits a byte stream into response frames without copying their bodies: calls
 * onFrame(length, head, tail) with up to the first and last 512 bytes of each frame.
 */
class FrameSkipper {
  constructor(onFrame) {
    this.onFrame = onFrame
    this.header = Buffer.alloc(4)
    this.headerFill = 0
    this.remaining = -1
    this.length = 0
    this.head = []
    this.headLength = 0
    this.tail = Buffer.alloc(0)
  }

  push(chunk) {
    let offset = 0
    while (offset < chunk.length) {
      if (this.remaining < 0) {
        const take = Math.min(4 - this.headerFill, chunk.length - offset)
        chunk.copy(this.header, this.headerFill, offset, offset + take)
        this.headerFill += take
        offset += take
        if (this.headerFill === 4) {
          this.length = this.header.readUInt32BE(0)
          this.remaining = this.length
          this.headerFill = 0
          this.head = []
          this.headLength = 0
          this.tail = Buffer.alloc(0)
          if (this.remaining === 0) this.finish()
        }
        continue
      }
      const take = Math.min(this.remaining, chunk.length - offset)
      const piece = chunk.subarray(offset, offset + take)
      if (this.headLength < 512) {
        this.head.push(piece.subarray(0, 512 - this.headLength))
        this.headLength += Math.min(piece.length, 512 - this.headLength)
      }
      this.tail = piece.length >= 512 ? piece.subarray(-512) : Buffer.concat([this.tail, piece]).subarray(-512)
      this.remaining -= take
      offset += take
      if (this.remaining === 0) this.finish()
    }
  }

  finish() {
    this.remaining = -1
    this.onFrame(this.length, Buffer.concat(this.head), this.tail)
  }
}

/** 'OK', 'ERROR' or null from the start (or, failing that, the end) of a response frame. */
function responseStatus(head, tail) {
  for (const part of [head, tail]) {
    const okAt = part.indexOf(OK)
    const errorAt = part.indexOf(ERROR)
    if (okAt !== -1 && (errorAt === -1 || okAt < errorAt)) return 'OK'
    if (errorAt !== -1) return 'ERROR'
  }
  return null
}

module.exports = {FrameSkipper, requestFrame, responseStatus}
