// A peer's name costs the server time linear in its length: the length is checked before any
// normalisation. The quadratic NFC shape (a megabyte of combining marks in two classes) froze the
// server for about 185 s; now it is refused and the next request is answered at once.
import {expect} from 'chai'

import {RawClient, request, type RunningServer, startServer} from './server-harness.js'

/** 'a', 262,000 x U+0301 (class 230), 262,000 x U+0334 (class 1), '.png': about 1 MiB of UTF-8. */
const QUADRATIC_NFC_NAME = 'a' + '\u{301}'.repeat(262_000) + '\u{334}'.repeat(262_000) + '.png'

describe('names: no super-linear work on a peer-supplied name', function () {
  this.timeout(30_000)
  let running: RunningServer

  beforeEach(async () => {
    running = await startServer({maxSize: 4 * 1024 * 1024})
  })

  afterEach(async () => {
    await running.stop()
  })

  for (const command of ['GET', 'PUT']) {
    it(`answers a ${command} of the quadratic NFC shape with E_BAD_NAME, and a LIST right after within 2 s`, async () => {
      const hostile = await RawClient.connect(running.port)
      const other = await RawClient.connect(running.port)
      try {
        const data = command === 'PUT' ? Buffer.from('89504e470d0a1a0a', 'hex') : null
        hostile.send(request(command, QUADRATIC_NFC_NAME, data, true))
        const answer = await hostile.read(10_000)
        expect(answer.STATUS).to.equal('ERROR')
        expect(answer.CODE).to.equal('E_BAD_NAME')
        // The refusal names the problem without echoing a megabyte.
        expect(String(answer.DETAILS)).to.match(/longer than 255 bytes/)
        expect(String(answer.DETAILS).length).to.be.below(1000)

        other.send(request('LIST', null, null, true))
        const list = await other.read(2000)
        expect(list.STATUS).to.equal('OK')
      } finally {
        hostile.close()
        other.close()
      }
    })
  }
})
