// Access on the request head, seen from outside: a CPython client written from the seed adds a TOKEN key
// by hand, before or after FILE_DATA; a refused 100 MiB upload is answered at once and writes nothing
// (the server's write_bytes from /proc/<pid>/io).
import {expect} from 'chai'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {RawClient, request} from '../integration/server-harness.js'
import {runSeedClient} from '../support/seed-client.js'
import {pngBytes, removeDir, runCli, startIssServer, tempDir, type RunningServer} from './cli-harness.js'

const MiB = 1024 * 1024

/** Bytes the process has caused to be written to storage (counted when pages are dirtied), from /proc/<pid>/io. */
function writeBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'latin1')
    .split('\n')
    .find((row) => row.startsWith('write_bytes:'))
  return Number(line!.split(':', 2)[1])
}

/** Every file in the store, temporary ones included. */
function storeFiles(storage: string): string[] {
  const hidden = path.join(storage, '.iss-tmp')
  const temporary = readdirSync(storage).includes('.iss-tmp') ? readdirSync(hidden) : []
  return [...readdirSync(storage).filter((name) => !name.startsWith('.')), ...temporary]
}

/** A PUT of `size` bytes, streamed; stops sending after `sendAtMost` bytes when an answer arrives first. */
async function streamedPut(port: number, name: string, size: number, token: string | null) {
  const client = await RawClient.connect(port)
  try {
    const message = request('PUT', name, null, true)
    if (token !== null) message.extra = {...message.extra, TOKEN: token}
    const {head, tail} = encodeStreamingFrame(message, size, {protocol: 4})
    await client.write(head)
    const chunk = pngBytes(MiB)
    let sent = 0
    // Without a token, 4 MiB and then wait: the answer must come while most of the image is unsent.
    const limit = token === null ? 4 * MiB : size
    for (; sent < limit && !client.closed; sent += MiB)
      await client.write(chunk.subarray(0, Math.min(MiB, size - sent)))
    if (sent >= size) await client.write(tail)
    const answer = await client.read(60_000)
    return {answer, sent}
  } finally {
    client.close()
  }
}

describe('access on the request head: seed peers and refused uploads', function () {
  this.timeout(180_000)
  let dir: string
  let storage: string
  let server: RunningServer | null = null
  let secret = ''

  beforeEach(async () => {
    dir = tempDir('iss-access-seed-')
    storage = path.join(dir, 'store')
    const tokens = path.join(dir, 'tokens.json')
    secret = (await runCli(['token', 'create', 'seed', '--scope', 'write', '--tokens', tokens])).stdout.trim()
    // A token exists, so requests without one may only read.
    server = await startIssServer(storage, ['--tokens', tokens])
  })

  afterEach(async () => {
    await server?.stop()
    server = null
    removeDir(dir)
  })

  it('a seed client whose dict puts TOKEN after FILE_DATA gets E_UNAUTHORIZED naming the key order; nothing is written', async () => {
    const image = pngBytes(256 * 1024).toString('hex')
    const lines = await runSeedClient(server!.port, [
      {
        op: 'RAW',
        message: {
          COMMAND: 'PUT',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: 'late.png',
          FILE_DATA: {hex: image},
          TOKEN: secret,
        },
      },
      {
        op: 'RAW',
        message: {
          COMMAND: 'PUT',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: 'late.png',
          VERSION: 1,
          FILE_DATA: {hex: image},
          TOKEN: secret,
        },
      },
    ])
    expect(lines[0].STATUS).to.equal('ERROR')
    expect(lines[0].keys).to.deep.equal(['COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'FILE_DATA'])
    expect(lines[0].DETAILS).to.match(/^Unauthorized: .*TOKEN must come before FILE_DATA/)
    expect([lines[1].STATUS, lines[1].CODE]).to.deep.equal(['ERROR', 'E_UNAUTHORIZED'])
    expect(storeFiles(storage)).to.deep.equal([])
  })

  it('a seed client whose dict puts TOKEN before FILE_DATA stores its image, and reads it back', async () => {
    const image = pngBytes(70 * 1024)
    const lines = await runSeedClient(server!.port, [
      {
        op: 'RAW',
        message: {
          COMMAND: 'PUT',
          STATUS: 'REQUEST',
          DETAILS: null,
          FILENAME: 'cat.png',
          TOKEN: secret,
          FILE_DATA: {hex: image.toString('hex')},
        },
      },
      {op: 'GET', name: 'cat.png'},
    ])
    expect([lines[0].STATUS, lines[0].FILENAME]).to.deep.equal(['OK', 'cat.png'])
    expect(lines[1].STATUS).to.equal('OK')
    expect(lines[1].length).to.equal(image.length)
    expect(storeFiles(storage)).to.deep.equal(['cat.png'])
  })

  it('a PUT of a 100 MiB image without a token is refused at once and writes nothing (write_bytes under 1 MiB)', async () => {
    const pid = server!.process.pid!
    const before = writeBytes(pid)
    const refused = await streamedPut(server!.port, 'big.png', 100 * MiB, null)
    expect(refused.answer.CODE).to.equal('E_UNAUTHORIZED')
    expect(refused.answer.DETAILS).to.match(/TOKEN must come before FILE_DATA/)
    expect(refused.sent).to.be.at.most(4 * MiB)
    const written = writeBytes(pid) - before
    expect(written, `write_bytes grew by ${written}`).to.be.below(MiB)
    expect(storeFiles(storage)).to.deep.equal([])

    // The same upload with the token is stored, and the counter sees it: the measure can fail.
    const stored = await streamedPut(server!.port, 'big.png', 100 * MiB, secret)
    expect(stored.answer.STATUS).to.equal('OK')
    expect(writeBytes(pid) - before).to.be.at.least(100 * MiB)
  })
})
