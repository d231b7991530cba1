import {expect} from 'chai'

import {answerClosesConnection, CLOSING_CODES, ErrorCode, errors, IssError} from '../../src/core/errors.js'

describe('the error catalogue: one notion of "this error closes the connection"', () => {
  it('every error the server treats as fatal is one a client reads as closing', () => {
    const samples = [
      errors.busy(),
      errors.malformed('x'),
      errors.tooLarge('Frame', 10, 5, {fatal: true}),
      new IssError(ErrorCode.TIMEOUT, 'slow'),
      new IssError(ErrorCode.SHUTTING_DOWN, 'stopping'),
    ]
    for (const error of samples) {
      expect(error.fatal, error.code).to.equal(true)
      expect(answerClosesConnection({CODE: error.code, COMMAND: 'PUT'}), error.code).to.equal(true)
    }
  })

  it('a code outside the closing set never closes, even when asked to', () => {
    for (const code of Object.values(ErrorCode).filter((value) => !CLOSING_CODES.has(value))) {
      expect(new IssError(code, 'x', {fatal: true}).fatal, code).to.equal(false)
      expect(answerClosesConnection({CODE: code, COMMAND: 'PUT'}), code).to.equal(false)
    }
  })

  it('an ERROR that echoes no COMMAND means the frame was not read as a request: the connection closes', () => {
    expect(answerClosesConnection({CODE: null, COMMAND: null})).to.equal(true)
    expect(answerClosesConnection({CODE: ErrorCode.DUPLICATE, COMMAND: 'PUT'})).to.equal(false)
  })
})
