import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import pino from 'pino'

import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {corePlugin, eventually, loadModule, png, RawClient, request, testConfig} from './server-harness.js'

const MiB = 1024 * 1024

describe('iss serve logs what happened to each request', function () {
  this.timeout(60_000)
  let server: IssServer
  let storage: string
  let port: number
  const lines: Array<Record<string, unknown>> = []

  before(async () => {
    storage = mkdtempSync(join(tmpdir(), 'iss-log-'))
    writeFileSync(join(storage, 'big.png'), png(48 * MiB))
    const capture = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n'))
          if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
        callback()
      },
    })
    const logger = pino({level: 'info', base: undefined}, capture)
    server = await createIssServer({
      config: testConfig(storage, {maxSize: 64 * MiB}),
      plugins: [corePlugin()],
      load: loadModule,
      lingerMs: 1000,
      logger,
    })
    port = (await server.listen()).port
  })

  after(async () => {
    await server.close()
    rmSync(storage, {recursive: true, force: true})
  })

  it('a GET the client walks away from is logged ABORTED with the bytes that actually left', async () => {
    const client = await RawClient.connect(port)
    let received = 0
    client.socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (received > 2 * MiB) client.close()
    })
    client.send(request('GET', 'big.png'))
    const logged = () => lines.find((line) => line.command === 'GET' && line.filename === 'big.png')
    expect(await eventually(() => logged() !== undefined, 20_000)).to.equal(true)
    const line = logged()!
    expect(line.status).to.equal('ABORTED')
    expect(line.bytes)
      .to.be.a('number')
      .within(2 * MiB, 48 * MiB - 1)
  })

  it('a refused frame logs the COMMAND and FILENAME decoded before the refusal, and its ERROR echoes them', async () => {
    const client = await RawClient.connect(port)
    // A FILE_DATA of the wrong type: the frame is whole, the message is refused.
    const frame = encodeFrame({...request('PUT', 'typed.png'), extra: {}, FILE_DATA: null}, {protocol: 4})
    const bad = Buffer.from(frame.toString('latin1').replace('\x8c\tFILE_DATAN', '\x8c\tFILE_DATA\x8c\x01x'), 'latin1')
    bad.writeUInt32BE(bad.length - 4)
    await client.write(bad)
    const answer = await client.read()
    client.close()
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.COMMAND).to.equal('PUT')
    expect(answer.FILENAME).to.equal('typed.png')
    const line = lines.find((entry) => entry.filename === 'typed.png')
    expect(line).to.include({command: 'PUT', status: 'ERROR', code: 'E_MALFORMED'})
  })

  it('an upload cut off mid-FILE_DATA logs the COMMAND and FILENAME its head carried', async () => {
    const client = await RawClient.connect(port)
    const frame = encodeFrame(request('PUT', 'cut.png', png(MiB)), {protocol: 4})
    await client.write(frame.subarray(0, 200 * 1024))
    client.close()
    // Closed mid-frame: nothing is answered, but the log still names what it was.
    expect(await eventually(() => lines.some((line) => line.filename === 'cut.png'), 5000)).to.equal(true)
    const line = lines.find((entry) => entry.filename === 'cut.png')!
    expect(line).to.include({command: 'PUT', status: 'ABORTED'})
    expect(line.bytes).to.be.a('number').above(0)
  })
})
