// With the server's TLS on, the gallery speaks HTTPS with the same certificate, and nothing in clear text.
import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {request as httpsRequest} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ensureSelfSigned} from '../../src/core/tls/self-signed.js'
import {rawRequest, type RunningGallery, startGallery} from './http-harness.js'

describe('gallery over HTTPS', () => {
  let running: RunningGallery
  let dataDir: string
  let cert: string

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'iss-gallery-tls-'))
    const made = await ensureSelfSigned(dataDir, '127.0.0.1')
    cert = made.cert
    running = await startGallery({https: {cert: made.cert, key: made.key}})
  })

  after(async () => {
    await running.stop()
    rmSync(dataDir, {recursive: true, force: true})
  })

  it('serves the API over TLS to a client that trusts the server certificate', async () => {
    const answer = await new Promise<{status: number; body: string}>((resolve, reject) => {
      const request = httpsRequest(
        {
          host: '127.0.0.1',
          port: running.httpPort,
          path: '/api/images',
          ca: cert,

          timeout: 10_000,
        },
        (response) => {
          let body = ''
          response.setEncoding('utf8').on('data', (text: string) => {
            body += text
          })
          response.on('end', () => resolve({status: response.statusCode ?? 0, body}))
        },
      )
      request.on('timeout', () => request.destroy(new Error('no answer within 10 s')))
      request.on('error', reject)
      request.end()
    })
    expect(answer.status).to.equal(200)
    expect(JSON.parse(answer.body)).to.deep.equal({images: [], next: null})
  })

  it('gives a clear-text HTTP request no answer in clear text', async () => {
    const outcome = await rawRequest(running.httpPort, '/api/images')
      .then((answer) => `answered ${answer.status}`)
      .catch(() => 'refused')
    expect(outcome).not.to.equal('answered 200')
  })
})
