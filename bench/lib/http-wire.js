'use strict'
// Just enough HTTP/1.1 for a keep-alive load generator: requests as prebuilt buffers, responses
// split by Content-Length with their bodies counted, never copied.

/** Buffers to write for one request. */
function httpRequest(method, urlPath, body = null) {
  const lines = [`${method} ${urlPath} HTTP/1.1`, 'Host: 127.0.0.1']
  if (body) lines.push(`Content-Length: ${body.length}`, 'Content-Type: application/octet-stream')
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  return body ? [head, body] : [head]
}

const CRLFCRLF = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')
/** States that wait for a CRLF-terminated line (or the blank line ending a head). */
const LINE_STATES = new Set(['head', 'size', 'trailer'])

/** Calls onResponse(statusCode, bodyLength) for each complete response on the stream (Content-Length or chunked). */
class ResponseSkipper {
  constructor(onResponse) {
    this.onResponse = onResponse
    this.pending = null
    // 'head', 'body' (Content-Length), 'size' (chunk-size line), 'chunk' (chunk data + CRLF), 'trailer'
    this.state = 'head'
    this.bodyRemaining = 0
    this.status = 0
    this.bodyLength = 0
  }

  push(chunk) {
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
    this.pending = null
    let offset = 0
    while (offset < data.length) {
      if (LINE_STATES.has(this.state)) {
        const mark = this.state === 'head' ? CRLFCRLF : CRLF
        const end = data.indexOf(mark, offset)
        if (end === -1) {
          this.pending = Buffer.from(data.subarray(offset))
          return
        }
        const text = data.toString('latin1', offset, end)
        offset = end + mark.length
        if (this.state === 'head') this.onHead(text)
        else if (this.state === 'size') this.onChunkSize(text)
        else if (text === '') this.finish()
        continue
      }
      const take = Math.min(this.bodyRemaining, data.length - offset)
      this.bodyRemaining -= take
      offset += take
      if (this.bodyRemaining > 0) continue
      if (this.state === 'body') this.finish()
      else this.state = 'size'
    }
  }

  onHead(head) {
    this.status = Number(head.slice(9, 12))
    this.bodyLength = 0
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      this.state = 'size'
      return
    }
    const match = /\r\ncontent-length:\s*(\d+)/i.exec(head)
    this.bodyRemaining = match ? Number(match[1]) : 0
    this.bodyLength = this.bodyRemaining
    this.state = 'body'
    if (this.bodyRemaining === 0) this.finish()
  }

  onChunkSize(line) {
    if (line === '') return // the CRLF that ends the previous chunk's data
    const size = Number.parseInt(line, 16)
    if (!Number.isFinite(size)) throw new Error(`bad chunk size line: ${line.slice(0, 40)}`)
    if (size === 0) {
      this.state = 'trailer'
      return
    }
    this.bodyLength += size
    this.bodyRemaining = size
    this.state = 'chunk'
  }

  finish() {
    this.state = 'head'
    this.onResponse(this.status, this.bodyLength)
  }
}

module.exports = {ResponseSkipper, httpRequest}
