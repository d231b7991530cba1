import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {encodeStreamingFrame} from '../../src/core/protocol/message-writer.js'
import {runSeedClient} from '../support/seed-client.js'
import {png, RawClient, request, roundTrip} from './server-harness.js'
import {type Child, startChild} from './server-process.js'

const MiB = 1024 * 1024

/** Bytes the process has caused to be written to storage (page-dirtying time), from /proc/<pid>/io. */
function writeBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'latin1')
    .split('\n')
    .find((row) => row.startsWith('write_bytes:'))
  return Number(line!.split(':', 2)[1])
}

function temporaryFiles(storage: string): string[] {
  return readdirSync(join(storage, '.iss-tmp'))
}

/** Streams a PUT-shaped request of `size` bytes of FILE_DATA without holding it, then reads the answer. */
async function streamRequest(port: number, command: string, name: string, size: number) {
  const client = await RawClient.connect(port)
  try {
    const message = request(command, name, null, true)
    const {head, tail} = encodeStreamingFrame(message, size, {protocol: 4})
    await client.write(head)
    const chunk = png(MiB)
    for (let sent = 0; sent < size && !client.closed; sent += MiB) {
      await client.write(sent + MiB <= size ? chunk : chunk.subarray(0, size - sent))
    }

    await client.write(tail)
    const answer = await client.read(30_000)
    return {answer, client}
  } catch (error) {
    client.close()
    throw error
  }
}

describe('iss serve decides on a request head before storing a byte', function () {
  this.timeout(120_000)
  let child: Child | null = null
  let storage = ''

  beforeEach(async () => {
    storage = mkdtempSync(join(tmpdir(), 'iss-decide-'))
    child = await startChild({storage, maxSize: 256 * MiB, storageOptions: {minFree: 0, fsync: true}})
  })

  afterEach(async () => {
    child?.process.kill('SIGTERM')
    await child?.exited
    child = null
    rmSync(storage, {recursive: true, force: true})
  })

  it('a duplicate PUT of 200 MiB is answered E_DUPLICATE with under 1 MiB written to disk', async () => {
    const {pid} = child!.process
    expect((await roundTrip(child!.port, request('PUT', 'dup.png', png(1000)))).STATUS).to.equal('OK')

    // Control: the counter does see an upload that is stored.
    const before = writeBytes(pid!)
    const stored = await streamRequest(child!.port, 'PUT', 'real.png', 8 * MiB)
    stored.client.close()
    expect(stored.answer.STATUS).to.equal('OK')
    expect(writeBytes(pid!) - before).to.be.at.least(8 * MiB)

    const start = writeBytes(pid!)
    const {answer, client} = await streamRequest(child!.port, 'PUT', 'DUP.png', 200 * MiB)
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.CODE).to.equal('E_DUPLICATE')
    expect(answer.COMMAND).to.equal('PUT')
    expect(answer.FILENAME).to.equal('DUP.png')
    expect(writeBytes(pid!) - start).to.be.below(MiB)
    expect(temporaryFiles(storage)).to.deep.equal([])
    // The connection stays usable: the rest of the frame was discarded, not misread.
    client.send(request('LIST'))
    expect((await client.read()).DETAILS).to.deep.equal(['dup.png', 'real.png'])
    client.close()
  })

  it('a request with FILE_DATA and an unknown COMMAND writes nothing', async () => {
    const {pid} = child!.process
    const start = writeBytes(pid!)
    const {answer, client} = await streamRequest(child!.port, 'FROB', 'x.png', 20 * MiB)
    client.close()
    expect(answer.CODE).to.equal('E_UNKNOWN_COMMAND')
    expect(writeBytes(pid!) - start).to.be.below(MiB)
    expect(temporaryFiles(storage)).to.deep.equal([])
    expect(readdirSync(storage).filter((name) => !name.startsWith('.'))).to.deep.equal([])
  })

  it('the Python seed client, which sends everything before reading, gets the refusals and nothing is written', async () => {
    const {pid} = child!.process
    const scratch = mkdtempSync(join(tmpdir(), 'iss-decide-src-'))
    try {
      const big = join(scratch, 'big.png')
      writeFileSync(big, png(12 * MiB))
      const first = await runSeedClient(child!.port, [{op: 'PUT', name: 'cat.png', path: big}])
      expect(first[0].STATUS).to.equal('OK')
      const start = writeBytes(pid!)
      const lines = await runSeedClient(
        child!.port,
        [
          {op: 'PUT', name: 'CAT.png', path: big},
          {
            op: 'RAW',
            message: {
              COMMAND: 'FROB',
              STATUS: 'REQUEST',
              DETAILS: null,
              FILENAME: 'a.png',
              FILE_DATA: {hex: '89'.repeat(MiB)},
            },
          },
          {op: 'LIST'},
        ],
        ['--endian', 'little'],
      )
      expect(lines.map((line) => line.STATUS)).to.deep.equal(['ERROR', 'ERROR', 'OK'])
      expect(lines[0].DETAILS).to.match(/already/)
      expect(lines[1].DETAILS).to.match(/FROB/)
      expect(lines[2].DETAILS).to.deep.equal(['cat.png'])
      expect(writeBytes(pid!) - start).to.be.below(MiB)
    } finally {
      rmSync(scratch, {recursive: true, force: true})
    }
  })

  it('a hand-made pickle with FILE_DATA before FILENAME still works: spooled, then decided at the end', async () => {
    const client = await RawClient.connect(child!.port)
    try {
      // The head holds COMMAND and STATUS only; FILENAME comes after FILE_DATA.
      const data = png(3000)
      const pickle = Buffer.concat([
        Buffer.from('\x80\x04}(\x8c\x07COMMAND\x8c\x03PUT\x8c\x06STATUS\x8c\x07REQUEST\x8c\tFILE_DATAB', 'latin1'),
        Buffer.from([data.length & 0xff, (data.length >> 8) & 0xff, 0, 0]),
        data,
        Buffer.from('\x8c\x08FILENAME\x8c\x08late.pngu.', 'latin1'),
      ])
      const header = Buffer.alloc(4)
      header.writeUInt32BE(pickle.length)
      await client.write(Buffer.concat([header, pickle]))
      const answer = await client.read()
      expect(answer.STATUS, String(answer.DETAILS)).to.equal('OK')
      expect(answer.FILENAME).to.equal('late.png')
      expect(readFileSync(join(storage, 'late.png')).equals(data)).to.equal(true)
    } finally {
      client.close()
    }
  })
})
