import {expect} from 'chai'
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {createLogger, logRequest} from '../../src/core/logger.js'
import {safeJsonStringify} from '../../src/core/safe-json.js'

/** A filename a hostile peer could send: CSI (C1), right-to-left override, an OSC title sequence, a newline. */
const HOSTILE = 'cat\u009B2J\u202Egnp.exe\u001B]0;owned\u0007\n.png'
/** Characters that must never reach a terminal or a log file raw. */
// eslint-disable-next-line no-control-regex -- the point of the test
const RAW_CONTROLS = /[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/u

describe('text a peer chose, written for people', () => {
  let dir: string

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iss-logger-'))
  })

  afterEach(() => rmSync(dir, {force: true, recursive: true}))

  function logTo(pretty: boolean): string {
    const file = path.join(dir, 'log')
    const fd = openSync(file, 'w')
    try {
      const logger = createLogger({fd, pretty, sync: true})
      logRequest(logger, {
        peer: '127.0.0.1:5000',
        command: 'PUT',
        filename: HOSTILE,
        bytes: 10,
        durationMs: 1,
        status: 'OK',
        code: null,
      })
      logger.flush()
    } finally {
      closeSync(fd)
    }

    return readFileSync(file, 'utf8')
  }

  it('escapes C1 and bidi controls in a JSON line, which still parses to the name the peer sent', () => {
    const text = logTo(false)
    const lines = text.trimEnd().split('\n')
    expect(lines).to.have.length(1)
    expect(lines[0]).to.not.match(RAW_CONTROLS)
    expect(lines[0]).to.contain('\\u009b').and.contain('\\u202e')
    expect(JSON.parse(lines[0]).filename).to.equal(HOSTILE)
  })

  it('writes one readable, escaped line per request when pretty', () => {
    const text = logTo(true)
    const lines = text.trimEnd().split('\n')
    expect(lines).to.have.length(1)
    expect(lines[0]).to.match(/INFO.*request peer=127\.0\.0\.1:5000 command=PUT filename=cat\\u009b2J\\u202egnp/)
    // eslint-disable-next-line no-control-regex -- colour is off under NO_COLOR in tests, ESC may come only from colour
    expect(lines[0].replaceAll(/\u001B\[\d+m/gu, '')).to.not.match(RAW_CONTROLS)
  })

  describe('JSON for people (safeJsonStringify)', () => {
    it('escapes C0, C1, DEL, separators and bidi controls and round-trips', () => {
      const value = {names: ['a\u009Bb', 'c\u202Ed', 'e\u2028f', 'g\u007Fh', 'i\u001Bj']}
      const text = safeJsonStringify(value, 2)
      expect(text).to.not.match(RAW_CONTROLS)
      expect(text).to.not.contain('\u2028')
      expect(text).to.contain('\\u009b').and.contain('\\u202e').and.contain('\\u2028').and.contain('\\u007f')
      expect(JSON.parse(text)).to.deep.equal(value)
    })
  })
})
