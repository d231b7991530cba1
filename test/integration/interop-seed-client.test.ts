import {expect} from 'chai'

import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runSeedClient as runClient, type SeedLine as Line} from '../support/seed-client.js'
import {jpeg, png, type RunningServer, startServer} from './server-harness.js'

const SEED_KEYS = ['COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'FILE_DATA']

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

describe('interop: a Python client written from the seed against iss serve', function () {
  this.timeout(120_000)
  let running: RunningServer
  let files: string
  const photo = png(70_000, 3)
  const picture = jpeg(50_000, 4)
  const sessions: Array<{title: string; protocol: number; endian: string; per_request: boolean}> = []
  for (const protocol of [0, 1, 2, 3, 4, 5]) {
    sessions.push(
      {
        title: `protocol ${protocol}, one request per connection, native byte order`,
        protocol,
        endian: 'native',
        per_request: true,
      },
      {
        title: `protocol ${protocol}, many requests on one connection, big-endian`,
        protocol,
        endian: 'big',
        per_request: false,
      },
    )
  }

  /** Lines of every session, by session index. Python starts slowly here, so one process runs them all. */
  let results: Line[][] = []

  before(async () => {
    files = mkdtempSync(join(tmpdir(), 'iss-interop-'))
    writeFileSync(join(files, 'photo.png'), photo)
    writeFileSync(join(files, 'picture.jpg'), picture)
    running = await startServer({maxSize: 4 * 1024 * 1024})
    // Each session works on its own names, so sessions sharing one server do not see each other.
    const script = {
      sessions: sessions.map((session, i) => ({
        ...session,
        ops: [
          {op: 'PUT', name: `s${i}-photo.png`, path: join(files, 'photo.png')},
          {op: 'PUT', name: `S${i}-Picture.JPG`, path: join(files, 'picture.jpg')},
          {op: 'PUT', name: `S${i}-PHOTO.png`, path: join(files, 'photo.png')},
          {op: 'GET', name: `s${i}-photo.png`},
          {op: 'GET', name: `s${i}-picture.jpg`},
          {op: 'GET', name: `s${i}-missing.png`},
          {op: 'LIST'},
        ],
      })),
    }
    const lines = await runClient(running.port, script)
    results = sessions.map((_, i) => lines.filter((line) => (line as {session?: number}).session === i))
  })

  after(async () => {
    await running?.stop()
    rmSync(files, {recursive: true, force: true})
  })

  for (const [i, session] of sessions.entries()) {
    it(`PUT, GET, LIST at pickle ${session.title}`, () => {
      const lines = results[i]
      expect(lines).to.have.length(7)
      for (const line of lines) expect(line.keys, JSON.stringify(line)).to.deep.equal(SEED_KEYS)
      const [put1, put2, duplicate, get1, get2, missing, list] = lines

      for (const put of [put1, put2]) {
        expect(put.STATUS).to.equal('OK')
        expect(put.types).to.deep.equal({
          COMMAND: 'str',
          STATUS: 'str',
          DETAILS: 'str',
          FILENAME: 'str',
          FILE_DATA: 'NoneType',
        })
      }

      expect(put2.FILENAME).to.equal(`S${i}-Picture.JPG`)

      expect(duplicate.STATUS).to.equal('ERROR')
      expect(duplicate.DETAILS).to.equal(`File 's${i}-photo.png' already exists on server`)
      expect(duplicate.FILENAME).to.equal(`S${i}-PHOTO.png`)

      expect(get1.STATUS).to.equal('OK')
      expect(get1.types!.FILE_DATA).to.equal('bytes')
      expect(get1.sha256).to.equal(sha256(photo))
      expect(get2.FILENAME).to.equal(`S${i}-Picture.JPG`)
      expect(get2.sha256).to.equal(sha256(picture))
      expect(get2.length).to.equal(picture.length)

      expect(missing.STATUS).to.equal('ERROR')
      expect(missing.types!.DETAILS).to.equal('str')
      expect(missing.types!.FILE_DATA).to.equal('NoneType')

      expect(list.STATUS).to.equal('OK')
      expect(list.types!.DETAILS).to.equal('list')
      expect(list.DETAILS).to.include.members([`s${i}-photo.png`, `S${i}-Picture.JPG`])
    })
  }

  it('an empty store lists a message; little-endian frames; VERSION requests get CODE and COMMANDS', async () => {
    const empty = await startServer()
    try {
      const lines = await runClient(
        empty.port,
        [
          {op: 'LIST'},
          {op: 'PUT', name: 'x.png', data_hex: png(100).toString('hex')},
          {
            op: 'RAW',
            message: {
              COMMAND: 'STAT',
              STATUS: 'REQUEST',
              DETAILS: null,
              FILENAME: 'x.png',
              FILE_DATA: null,
              VERSION: 1,
            },
          },
          {op: 'RAW', message: {COMMAND: 'STAT', STATUS: 'REQUEST', DETAILS: null, FILENAME: 'x.png', FILE_DATA: null}},
          {op: 'PUT', name: 'y.png', data_hex: ''},
          {op: 'LIST'},
        ],
        ['--endian', 'little', '--version'],
      )
      expect(lines[0].DETAILS).to.equal('No files on server')
      expect(lines[0].types!.DETAILS).to.equal('str')
      expect(lines[1].STATUS).to.equal('OK')
      // FILE_DATA is the last key in everything iss encodes (DESIGN.md, wire compatibility 7).
      expect(lines[2].keys).to.deep.equal([
        ...SEED_KEYS.filter((key) => key !== 'FILE_DATA'),
        'CODE',
        'COMMANDS',
        'FILE_DATA',
      ])
      expect(lines[2].CODE).to.equal('E_UNKNOWN_COMMAND')
      expect(lines[2].COMMANDS).to.deep.equal(['GET', 'LIST', 'PUT'])
      expect(lines[2].types!.COMMANDS).to.equal('list')
      expect(lines[3].keys).to.deep.equal(SEED_KEYS)
      expect(lines[4].CODE).to.equal('E_EMPTY')
      expect(lines[5].DETAILS).to.deep.equal(['x.png'])
    } finally {
      await empty.stop()
    }
  })
})
