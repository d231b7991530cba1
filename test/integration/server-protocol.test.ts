import {expect} from 'chai'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {frameHeader} from '../../src/core/protocol/frame-header.js'
import {encodeFrame} from '../../src/core/protocol/message-writer.js'
import {jpeg, png, RawClient, request, roundTrip, type RunningServer, startServer} from './server-harness.js'

describe('iss serve: the answers of PUT, GET and LIST', function () {
  this.timeout(30_000)
  let running: RunningServer

  beforeEach(async () => {
    running = await startServer()
  })

  afterEach(async () => running.stop())

  it('PUT stores, GET returns the same bytes with the stored name, LIST names it', async () => {
    const image = png(5000)
    const put = await roundTrip(running.port, request('PUT', 'Cat.PNG', image))
    expect(put.STATUS).to.equal('OK')
    expect(put.COMMAND).to.equal('PUT')
    expect(put.FILENAME).to.equal('Cat.PNG')
    expect(put.DETAILS).to.be.a('string').that.includes('Cat.PNG')
    expect(put.FILE_DATA).to.equal(null)
    expect(readFileSync(join(running.storage, 'Cat.PNG')).equals(image)).to.equal(true)

    const get = await roundTrip(running.port, request('GET', 'cat.png'))
    expect(get.STATUS).to.equal('OK')
    expect(get.FILENAME).to.equal('Cat.PNG')
    expect(Buffer.isBuffer(get.FILE_DATA) && get.FILE_DATA.equals(image)).to.equal(true)

    await roundTrip(running.port, request('PUT', 'apple.jpg', jpeg()))
    const list = await roundTrip(running.port, request('LIST'))
    expect(list.STATUS).to.equal('OK')
    expect(list.DETAILS).to.deep.equal(['apple.jpg', 'Cat.PNG'])
    expect(list.FILENAME).to.equal(null)
  })

  it('LIST on an empty store answers OK with a message', async () => {
    const list = await roundTrip(running.port, request('LIST'))
    expect(list.STATUS).to.equal('OK')
    expect(list.DETAILS).to.equal('No files on server')
  })

  it('a duplicate, also by case, answers E_DUPLICATE and keeps the first file', async () => {
    const first = jpeg(800, 1)
    expect((await roundTrip(running.port, request('PUT', 'cat.jpg', first))).STATUS).to.equal('OK')
    for (const name of ['cat.jpg', 'CAT.JPG']) {
      const again = await roundTrip(running.port, request('PUT', name, jpeg(900, 2), true))
      expect(again.STATUS).to.equal('ERROR')
      expect(again.CODE).to.equal('E_DUPLICATE')
      expect(again.DETAILS).to.equal("File 'cat.jpg' already exists on server")
      expect(again.FILENAME).to.equal(name)
    }

    expect(readFileSync(join(running.storage, 'cat.jpg')).equals(first)).to.equal(true)
    expect(readdirSync(running.storage).filter((name) => !name.startsWith('.'))).to.deep.equal(['cat.jpg'])
  })

  const failures: Array<[string, () => ReturnType<typeof request>, string]> = [
    ['GET of a missing name', () => request('GET', 'nope.png', null, true), 'E_NOT_FOUND'],
    ['a path in the name', () => request('PUT', '../evil.png', png(), true), 'E_BAD_NAME'],
    ['a hidden name', () => request('PUT', '.hidden.png', png(), true), 'E_BAD_NAME'],
    ['a reserved Windows name', () => request('PUT', 'CON.png', png(), true), 'E_BAD_NAME'],
    ['a control character', () => request('PUT', 'a\u{1}.png', png(), true), 'E_BAD_NAME'],
    ['no FILENAME', () => request('PUT', null, png(), true), 'E_BAD_NAME'],
    ['an unsupported type', () => request('PUT', 'anim.gif', png(), true), 'E_UNSUPPORTED_TYPE'],
    ['empty data', () => request('PUT', 'empty.png', Buffer.alloc(0), true), 'E_EMPTY'],
    ['no data at all', () => request('PUT', 'none.png', null, true), 'E_EMPTY'],
    ['content of another family', () => request('PUT', 'fake.png', jpeg(), true), 'E_CONTENT_MISMATCH'],
    ['text named .jpg', () => request('PUT', 'notes.jpg', Buffer.from('hello world'), true), 'E_CONTENT_MISMATCH'],
  ]
  for (const [what, build, code] of failures) {
    it(`${what} answers ${code} and keeps the connection`, async () => {
      const client = await RawClient.connect(running.port)
      try {
        client.send(build())
        const answer = await client.read()
        expect(answer.STATUS).to.equal('ERROR')
        expect(answer.CODE).to.equal(code)
        expect(answer.DETAILS).to.be.a('string').and.not.equal('')
        client.send(request('LIST'))
        expect((await client.read()).STATUS).to.equal('OK')
      } finally {
        client.close()
      }

      expect(readdirSync(running.storage).filter((name) => !name.startsWith('.'))).to.deep.equal([])
    })
  }

  it('an unknown COMMAND names the served commands; VERSION requests also get COMMANDS and CODE', async () => {
    const versioned = await roundTrip(running.port, request('DELETE', 'cat.png', null, true))
    expect(versioned.STATUS).to.equal('ERROR')
    expect(versioned.CODE).to.equal('E_UNKNOWN_COMMAND')
    expect(versioned.COMMANDS).to.deep.equal(['GET', 'LIST', 'PUT'])
    expect(versioned.DETAILS).to.equal("Unknown command 'DELETE'; this server serves GET, LIST, PUT")
    expect(versioned.FILENAME).to.equal('cat.png')

    const seed = await roundTrip(running.port, request('DELETE', 'cat.png'))
    expect(seed.STATUS).to.equal('ERROR')
    expect(seed.DETAILS).to.equal("Unknown command 'DELETE'; this server serves GET, LIST, PUT")
    expect(seed.CODE).to.equal(null)
    expect(seed.COMMANDS).to.equal(null)
    expect(seed.extra.size).to.equal(0)
  })

  it('a STATUS other than REQUEST answers E_BAD_STATUS', async () => {
    const answer = await roundTrip(running.port, {...request('LIST', null, null, true), STATUS: 'OK'})
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.CODE).to.equal('E_BAD_STATUS')
  })

  it('a malformed pickle gets one ERROR, then the connection closes', async () => {
    const client = await RawClient.connect(running.port)
    const garbage = Buffer.from('this is not a pickle at all')
    await client.write(Buffer.concat([frameHeader(garbage.length), garbage]))
    const answer = await client.read()
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.COMMAND).to.equal(null)
    expect(answer.DETAILS)
      .to.be.a('string')
      .that.matches(/Malformed/)
    expect(answer.CODE).to.equal(null)
    expect(await client.waitClosed()).to.equal(true)
  })

  it('answers many requests on one connection in order, in the byte order of the first frame', async () => {
    for (const byteOrder of ['big', 'little'] as const) {
      const client = await RawClient.connect(running.port)
      try {
        const names = Array.from({length: 20}, (_, i) => `${byteOrder}-${i}.png`)
        // All written before any is read: pipelined.
        const frames = names.map((name, i) =>
          encodeFrame(request('PUT', name, png(300 + i, i)), {protocol: 4, byteOrder}),
        )
        await client.write(Buffer.concat([...frames, encodeFrame(request('LIST'), {protocol: 4, byteOrder})]))
        for (const name of names) {
          const answer = await client.read()
          expect(answer.STATUS, name).to.equal('OK')
          expect(answer.FILENAME).to.equal(name)
        }

        const list = await client.read()
        expect(list.DETAILS).to.include.members(names)
      } finally {
        client.close()
      }
    }
  })

  it('serves seed-style clients that open one connection per request', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await roundTrip(running.port, request('PUT', `one-${i}.jpg`, jpeg(200, i)))).STATUS).to.equal('OK')
    }

    const list = await roundTrip(running.port, request('LIST'))
    expect(list.DETAILS).to.have.length(30)
  })

  it('50 concurrent PUTs of one name: exactly one OK, and the stored file is one upload intact', async () => {
    const uploads = Array.from({length: 50}, (_, i) => png(20_000 + i * 10, i))
    const answers = await Promise.all(
      uploads.map(async (data) => roundTrip(running.port, request('PUT', 'race.png', data, true))),
    )
    const ok = answers.filter((answer) => answer.STATUS === 'OK')
    expect(ok).to.have.length(1)
    expect(answers.filter((answer) => answer.CODE === 'E_DUPLICATE')).to.have.length(49)
    const stored = readFileSync(join(running.storage, 'race.png'))
    expect(uploads.some((data) => data.equals(stored))).to.equal(true)
  })
})
