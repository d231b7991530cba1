import {expect} from 'chai'
import {PassThrough} from 'node:stream'

import {BatchReport, summaryLine} from '../../src/core/batch/batch-report.js'
import type {ItemResult} from '../../src/core/protocol-command.js'

type Item = ItemResult & {name: string; bytes: number}

/** A stream that says it is a terminal of 100 columns, keeping what is written to it. */
function terminal(): {stream: NodeJS.WriteStream; text: () => string} {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough
  Object.assign(stream, {isTTY: true, columns: 100})
  const chunks: string[] = []
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk.toString())
  })
  return {stream, text: () => chunks.join('')}
}

function item(name: string, bytes: number, status: ItemResult['status'] = 'skipped'): Item {
  return {name, bytes, status, source: null, code: null, message: null}
}

describe('batch progress and summary', () => {
  it('draws the files done of total, the bytes and the file in flight on one line, redrawn in place', async () => {
    const {stream, text} = terminal()
    const report = new BatchReport<Item>(2, (result) => result.name, {enabled: true, stream, totalBytes: 3072})
    const [first, second] = [item('cat.png', 1024), item('dog.png', 2048)]
    report.observer.begin!(first)
    report.observer.bytes!(1024)
    report.observer.end!(first)
    report.observer.begin!(second)
    report.observer.end!(second)
    await new Promise((resolve) => setImmediate(resolve))
    const output = text()
    expect(output).to.include('\r\u001B[K[0/2] 0 B of 3.0 KiB  cat.png')
    expect(output).to.include('[1/2] 1.0 KiB of 3.0 KiB')
    expect(output).to.include('[2/2]')
    expect(output).to.not.include('\n')
  })

  it('draws nothing when disabled (--json) or when stderr is not a terminal', async () => {
    for (const enabled of [false, true]) {
      const {stream, text} = terminal()
      if (enabled) Object.assign(stream, {isTTY: false})
      const report = new BatchReport<Item>(1, (result) => result.name, {enabled, stream})
      const one = item('cat.png', 10)
      report.observer.begin!(one)
      report.observer.end!(one)
      await new Promise((resolve) => setImmediate(resolve))
      expect(text()).to.equal('')
    }
  })

  it('counts each status and the bytes of what was done', () => {
    const results = [
      item('a.png', 100, 'ok'),
      item('b.png', 50, 'error'),
      item('c.txt', 0, 'skipped'),
      item('d.png', 300, 'ok'),
    ]
    const report = new BatchReport<Item>(4, (result) => result.name, {enabled: false})
    const summary = report.summarize(results)
    expect(summary).to.include({sent: 2, identical: 0, skipped: 1, failed: 1, bytes: 400})
    expect(summaryLine({...summary, seconds: 2, bytesPerSecond: 200}, 'sent')).to.equal(
      '2 sent, 1 skipped, 1 failed: 400 B in 2.0 s (200 B/s)',
    )
  })
})
