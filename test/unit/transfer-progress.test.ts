import {expect} from 'chai'
import {PassThrough} from 'node:stream'

import {formatBytes, PROGRESS_THRESHOLD_BYTES, transferProgress} from '../../src/core/transfer-progress.js'

/** A stand-in for stderr that records what is drawn. */
function fakeStream(isTTY: boolean) {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & {written: string}
  let written = ''
  Object.assign(stream, {isTTY, columns: 80, cursorTo: () => true, clearLine: () => true, moveCursor: () => true})
  const write = stream.write.bind(stream)
  stream.write = (chunk: string | Buffer, ...rest: unknown[]) => {
    written += chunk.toString()
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest)
  }
  Object.defineProperty(stream, 'written', {get: () => written})
  stream.resume()
  return stream
}

describe('transferProgress', () => {
  it('draws a bar on a terminal for a transfer over the threshold', () => {
    const stream = fakeStream(true)
    const progress = transferProgress('cat.png', true, stream)
    progress.start(8 * PROGRESS_THRESHOLD_BYTES)
    progress.update(4 * PROGRESS_THRESHOLD_BYTES)
    progress.stop()
    expect(stream.written).to.contain('cat.png')
  })

  it('draws nothing when not a terminal, when disabled (--json), or for small transfers', () => {
    for (const [isTTY, enabled, total] of [
      [false, true, 8 * PROGRESS_THRESHOLD_BYTES],
      [true, false, 8 * PROGRESS_THRESHOLD_BYTES],
      [true, true, PROGRESS_THRESHOLD_BYTES - 1],
    ] as const) {
      const stream = fakeStream(isTTY)
      const progress = transferProgress('cat.png', enabled, stream)
      progress.start(total)
      progress.update(total)
      progress.stop()
      expect(stream.written, `${isTTY} ${enabled} ${total}`).to.equal('')
    }
  })

  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).to.equal('0 B')
    expect(formatBytes(1023)).to.equal('1023 B')
    expect(formatBytes(1536)).to.equal('1.5 KiB')
    expect(formatBytes(1024 ** 3)).to.equal('1.0 GiB')
  })
})
