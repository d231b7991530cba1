// The start-up probe against an object store that ignores If-None-Match. The stand-in is a tiny HTTP
// server written for this test (a fake, on purpose: Ceph RGW honours the header, and this test needs
// one that does not, as s3rver and some gateways behave): it answers every request 200, so every
// conditional write "wins".
import {expect} from 'chai'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {collect, spawnCli} from '../e2e/cli-harness.js'

describe('s3 store: the start-up probe of conditional writes', function () {
  this.timeout(60_000)
  let standIn: Server
  let endpoint: string
  let conditionalPuts = 0

  before(async () => {
    standIn = createServer((request, response) => {
      if (request.method === 'PUT' && request.headers['if-none-match'] === '*') conditionalPuts++
      request.resume()
      request.on('end', () => {
        response.writeHead(200, {ETag: '"0"', 'Content-Type': 'application/xml'})
        response.end(request.method === 'GET' ? '<ListBucketResult></ListBucketResult>' : '')
      })
    })
    await new Promise<void>((resolve) => {
      standIn.listen(0, '127.0.0.1', resolve)
    })
    endpoint = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`
  })

  after(async () => {
    standIn.closeAllConnections()
    await new Promise((resolve) => {
      standIn.close(resolve)
    })
  })

  it('refuses to start on a store that lets several conditional writes of one key succeed, naming the endpoint and why', async () => {
    const result = await collect(
      spawnCli(['serve', '--port', '0', '--storage', `s3://images/team?endpoint=${endpoint}`], {
        env: {AWS_ACCESS_KEY_ID: 'stand-in', AWS_SECRET_ACCESS_KEY: 'stand-in-secret'},
      }),
      30_000,
    )
    expect(result.code).to.equal(3)
    expect(conditionalPuts).to.equal(8)
    // One error (oclif wraps it to the terminal width): join the wrapped lines.
    const text = result.stderr.trim().replaceAll(/\s*\n\s*›\s*/g, ' ')
    expect(text.match(/Error:/g), result.stderr).to.have.length(1)
    expect(text).to.include(`the object store at ${endpoint} cannot keep one image per name`)
    expect(text).to.include('it ignores If-None-Match: * (or checks it non-atomically): 8 of 8 conditional writes')
    expect(result.stdout).not.to.include('listening')
    expect(result.stderr).not.to.include('stand-in-secret')
  })
})
