import {expect} from 'chai'
import net from 'node:net'
import path from 'node:path'

import {encodeFrame, type OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import {fillStore, manyName} from '../support/many-names.js'
import {removeDir, runCli, type RunningServer, startIssServer, tempDir} from './cli-harness.js'

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '')
}

function listAnswer(details: string[] | string, extra?: OutgoingMessage['extra']): OutgoingMessage {
  return {COMMAND: 'LIST', STATUS: 'OK', DETAILS: details, FILENAME: null, FILE_DATA: null, extra}
}

/**
 * A stand-in server that answers every whole request frame it gets with `answer(requestNumber)`. It reads
 * big-endian lengths: the client's first frame reads the same both ways, later ones follow our answers.
 */
async function standIn(answer: (index: number) => Buffer): Promise<{port: number; close: () => void}> {
  let index = 0
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    let buffered = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        buffered = buffered.subarray(4 + buffered.readUInt32BE(0))
        socket.write(answer(index++))
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close() {
      server.close()
    },
  }
}

describe('iss list', () => {
  describe('70,000 names of 240 bytes (a listing of 17 MB, over the 16 MiB a single answer may be)', function () {
    this.timeout(180_000)
    const COUNT = 70_000
    let work: string
    let server: RunningServer

    before(async () => {
      work = tempDir('e2e-list')
      const storage = path.join(work, 'store')
      fillStore(storage, COUNT, 240)
      server = await startIssServer(storage, ['--log-level', 'warn'])
    })

    after(async () => {
      await server?.stop()
      removeDir(work)
    })

    it('prints every name once, in order (the client pages)', async () => {
      const result = await runCli(['list', '-p', String(server.port)], {timeoutMs: 120_000})
      expect(result.code, result.stderr).to.equal(0)
      const printed = lines(result.stdout)
      expect(printed).to.have.length(COUNT)
      expect(printed[0]).to.equal(manyName(0, 240))
      expect(printed.at(-1)).to.equal(manyName(COUNT - 1, 240))
      expect(new Set(printed).size).to.equal(COUNT)
    })

    it('--json carries every name', async () => {
      const result = await runCli(['list', '-p', String(server.port), '--json'], {timeoutMs: 120_000})
      expect(result.code, result.stderr).to.equal(0)
      const parsed = JSON.parse(result.stdout) as {names: string[]; message: null}
      expect(parsed.message).to.equal(null)
      expect(parsed.names).to.have.length(COUNT)
      expect(parsed.names[12_345]).to.equal(manyName(12_345, 240))
    })
  })

  describe('against a hostile server', function () {
    this.timeout(60_000)
    // Window title (OSC 0), a hyperlink (OSC 8), CSI as one C1 byte, a forged second line, reversed text.
    const hostile = [
      'a\u001B]0;owned\u0007.png',
      '\u001B]8;;https://evil.example\u001B\\b.png\u001B]8;;\u001B\\',
      'c\u009B2J.png',
      'd.png\nforged.png',
      'e\u202Egnp.exe',
    ]
    // eslint-disable-next-line no-control-regex -- finding raw control characters is the point
    const RAW = /[\u001B\u0007\u009B\u202E]/

    it('shows names with control and bidi characters escaped, one line each', async () => {
      const server = await standIn(() => encodeFrame(listAnswer(hostile, {VERSION: 1n})))
      try {
        const result = await runCli(['list', '-p', String(server.port)])
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.not.match(RAW)
        expect(lines(result.stdout)).to.have.length(hostile.length)
        expect(result.stdout).to.contain('a\\u001b]0;owned\\u0007.png')
        expect(result.stdout).to.contain('e\\u202egnp.exe')
      } finally {
        server.close()
      }
    })

    it('--json escapes C1 and bidi controls too, and JSON.parse gives back the exact names', async () => {
      const server = await standIn(() => encodeFrame(listAnswer(hostile)))
      try {
        const result = await runCli(['list', '-p', String(server.port), '--json'])
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.not.match(RAW)
        expect((JSON.parse(result.stdout) as {names: string[]}).names).to.deep.equal(hostile)
      } finally {
        server.close()
      }
    })

    it('escapes a message sent instead of names', async () => {
      const server = await standIn(() => encodeFrame(listAnswer('No files\u001B[2J\u009B1;1H here')))
      try {
        const result = await runCli(['list', '-p', String(server.port)])
        expect(result.code, result.stderr).to.equal(0)
        expect(result.stdout).to.not.match(RAW)
        expect(result.stdout).to.contain('No files\\u001b[2J\\u009b1;1H here')
      } finally {
        server.close()
      }
    })

    it('stops (exit 3) when NEXT does not move forward, instead of asking forever', async () => {
      const server = await standIn(() => encodeFrame(listAnswer(['a.png'], {NEXT: 'a.png'})))
      try {
        const result = await runCli(['list', '-p', String(server.port)])
        expect(result.code).to.equal(3)
        expect(result.stderr).to.contain('NEXT')
        expect(lines(result.stdout)).to.have.length(2)
      } finally {
        server.close()
      }
    })

    it('says a listing was too large without naming a flag that list does not have', async () => {
      // A seed server that does not page: a 100 MB answer announced in the header (a length that is over
      // the limit in both byte orders, so that the client, which does not know the server's, refuses at once).
      const header = Buffer.alloc(4)
      header.writeUInt32BE(100_000_255)
      expect(header.readUInt32LE(0)).to.be.above(100_000_000)
      const server = await standIn(() => Buffer.concat([header, Buffer.from([0x80, 0x04, 0x7d])]))
      try {
        const result = await runCli(['list', '-p', String(server.port)])
        expect(result.code).to.equal(3)
        expect(result.stderr).to.contain('over the limit')
        expect(result.stderr).to.not.contain('--max-size')
      } finally {
        server.close()
      }
    })
  })
})
