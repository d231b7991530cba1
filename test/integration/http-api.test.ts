// The gallery's HTTP API without a browser: bytes with validators and ranges, names through the
// protocol's rules, writes through the protocol's handlers (same DETAILS), and limits.
import {expect} from 'chai'
import {readdirSync} from 'node:fs'

import {request, roundTrip} from './server-harness.js'
import {rawRequest, realJpeg, realPng, type RunningGallery, startGallery} from './http-harness.js'

describe('HTTP API of the gallery', () => {
  let running: RunningGallery

  beforeEach(async () => {
    running = await startGallery({config: {maxSize: 64 * 1024}})
  })

  afterEach(async () => {
    await running.stop()
  })

  async function put(name: string, data: Buffer, headers: Record<string, string> = {}) {
    return fetch(`${running.base}/images/${encodeURIComponent(name)}`, {method: 'PUT', body: data, headers})
  }

  it('stores a PUT and serves the bytes back with their sniffed type, validators and nosniff', async () => {
    const data = await realPng()
    const stored = await put('photo.png', data)
    expect(stored.status).to.equal(201)
    expect(((await stored.json()) as {name: string}).name).to.equal('photo.png')

    const answer = await fetch(`${running.base}/images/PHOTO.PNG`)
    expect(answer.status).to.equal(200)
    expect(Buffer.from(await answer.arrayBuffer()).equals(data)).to.equal(true)
    expect(answer.headers.get('content-type')).to.equal('image/png')
    expect(answer.headers.get('x-content-type-options')).to.equal('nosniff')
    expect(answer.headers.get('etag')).to.match(/^"[^"]+"$/)
    expect(answer.headers.get('last-modified')).to.be.a('string')
    expect(answer.headers.get('content-disposition')).to.equal(
      `inline; filename="photo.png"; filename*=UTF-8''photo.png`,
    )
  })

  it('types the bytes by their content: a JPEG is image/jpeg', async () => {
    expect((await put('p.jpeg', await realJpeg())).status).to.equal(201)
    const answer = await fetch(`${running.base}/images/p.jpeg`)
    expect(answer.headers.get('content-type')).to.equal('image/jpeg')
  })

  it('encodes a non-ASCII stored name with quotes and percent in Content-Disposition (RFC 6266 / 5987)', async () => {
    const name = "Ünïcode 'quote' 100%.png"
    expect((await put(name, await realPng())).status).to.equal(201)
    const answer = await fetch(`${running.base}/images/${encodeURIComponent(name)}?download`)
    const disposition = answer.headers.get('content-disposition')!
    expect(disposition).to.equal(
      `attachment; filename="_n_code 'quote' 100_.png"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20%27quote%27%20100%25.png`,
    )
    const encoded = /filename\*=UTF-8''(.+)$/.exec(disposition)![1]
    expect(decodeURIComponent(encoded)).to.equal(name)
  })

  it('answers Range requests with 206 and exactly the asked bytes, and 416 past the end', async () => {
    const data = await realPng(200, 100)
    await put('r.png', data)
    const middle = await fetch(`${running.base}/images/r.png`, {headers: {Range: 'bytes=10-19'}})
    expect(middle.status).to.equal(206)
    expect(middle.headers.get('content-range')).to.equal(`bytes 10-19/${data.length}`)
    expect(middle.headers.get('content-type')).to.equal('image/png')
    expect(Buffer.from(await middle.arrayBuffer()).equals(data.subarray(10, 20))).to.equal(true)

    const tail = await fetch(`${running.base}/images/r.png`, {headers: {Range: 'bytes=-7'}})
    expect(tail.status).to.equal(206)
    expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(-7))).to.equal(true)

    const open = await fetch(`${running.base}/images/r.png`, {headers: {Range: `bytes=${data.length - 3}-`}})
    expect(Buffer.from(await open.arrayBuffer()).equals(data.subarray(-3))).to.equal(true)

    const past = await fetch(`${running.base}/images/r.png`, {headers: {Range: `bytes=${data.length}-`}})
    expect(past.status).to.equal(416)
    expect(past.headers.get('content-range')).to.equal(`bytes */${data.length}`)
  })

  it('answers 304 to a matching If-None-Match or a later If-Modified-Since, and 200 to a stale ETag', async () => {
    await put('e.png', await realPng())
    const first = await fetch(`${running.base}/images/e.png`)
    const etag = first.headers.get('etag')!
    const modified = first.headers.get('last-modified')!
    expect((await fetch(`${running.base}/images/e.png`, {headers: {'If-None-Match': etag}})).status).to.equal(304)
    expect((await fetch(`${running.base}/images/e.png`, {headers: {'If-Modified-Since': modified}})).status).to.equal(
      304,
    )
    expect((await fetch(`${running.base}/images/e.png`, {headers: {'If-None-Match': '"other"'}})).status).to.equal(200)
  })

  for (const [what, path] of [
    ['encoded dots and slashes', '/images/%2e%2e%2f%2e%2e%2fpackage.json'],
    ['an encoded slash inside a name', '/images/a%2Fb.png'],
    ['a plain parent segment', '/images/../etc/passwd.png'],
    ['an encoded backslash', '/images/..%5c..%5cwin.png'],
    ['a NUL byte', '/images/a%00.png'],
    ['a dot-dot name', '/images/..'],
  ] as const) {
    it(`refuses a name with ${what} with the protocol's E_BAD_NAME, for GET, PUT and DELETE`, async () => {
      const read = await rawRequest(running.httpPort, path)
      expect(read.status, read.body.toString()).to.equal(400)
      expect(JSON.parse(read.body.toString()).code).to.equal('E_BAD_NAME')
      const write = await rawRequest(running.httpPort, path, {method: 'PUT', body: await realPng()})
      expect(write.status, write.body.toString()).to.equal(400)
      expect(JSON.parse(write.body.toString()).code).to.equal('E_BAD_NAME')
      const stored = await running.server.server.store.list()
      expect(stored).to.have.length(0)
    })
  }

  it('answers a duplicate PUT with 409 and the same DETAILS as a protocol PUT of that name', async () => {
    await put('Dup.png', await realPng())
    const http = await put('dup.PNG', await realPng(10, 10, 2))
    expect(http.status).to.equal(409)
    const body = (await http.json()) as {code: string; details: string}
    const protocol = await roundTrip(running.server.port, request('PUT', 'dup.PNG', await realPng(10, 10, 2), true))
    expect(protocol.STATUS).to.equal('ERROR')
    expect(body.code).to.equal(protocol.CODE)
    expect(body.details).to.equal(protocol.DETAILS)
  })

  it('answers a PUT over --max-size with 413 and stores nothing, with or without Content-Length', async () => {
    const big = Buffer.concat([await realPng(), Buffer.alloc(64 * 1024)])
    const declared = await rawRequest(running.httpPort, '/images/big.png', {method: 'PUT', body: big})
    expect(declared.status).to.equal(413)
    expect(JSON.parse(declared.body.toString()).code).to.equal('E_TOO_LARGE')

    const chunked = await rawRequest(running.httpPort, '/images/big2.png', {
      method: 'PUT',
      headers: {'Transfer-Encoding': 'chunked'},
      body: big,
    })
    expect(chunked.status).to.equal(413)
    expect(await running.server.server.store.list()).to.have.length(0)
    // Nothing half-written either: the store folder holds no image file.
    expect(readdirSync(running.server.storage).filter((name) => !name.startsWith('.'))).to.deep.equal([])
  })

  it('answers a PUT of a non-image body with the protocol refusal, storing nothing', async () => {
    const answer = await put('fake.png', Buffer.from('this is not a png at all, just text'))
    expect(answer.status).to.equal(415)
    expect(((await answer.json()) as {code: string}).code).to.equal('E_CONTENT_MISMATCH')
    expect(await running.server.server.store.list()).to.have.length(0)
  })

  it('refuses a request whose Host header is not one it answers to (DNS rebinding)', async () => {
    const evil = await rawRequest(running.httpPort, '/api/images', {headers: {Host: 'attacker.example'}})
    expect(evil.status).to.equal(421)
    const loopback = await rawRequest(running.httpPort, '/api/images', {
      headers: {Host: `localhost:${running.httpPort}`},
    })
    expect(loopback.status).to.equal(200)
  })

  it('serves the page under a strict Content-Security-Policy, with no inline script', async () => {
    const page = await fetch(`${running.base}/`)
    const csp = page.headers.get('content-security-policy')!
    expect(csp).to.contain("script-src 'self'")
    expect(csp).not.to.contain('unsafe-inline')
    const html = await page.text()
    expect(html).to.match(/<script src="\/assets\/gallery.js"/)
    expect(html).not.to.match(/<script>[^<]/)
  })

  it('lists images newest first or by name, in pages', async () => {
    for (const name of ['b.png', 'a.png', 'c.png']) {
      await put(name, await realPng(8, 8, name.codePointAt(0)))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }

    const newest = (await (await fetch(`${running.base}/api/images?limit=2`)).json()) as {
      images: Array<{name: string; size: number; thumbnail: string}>
      next: string | null
    }
    expect(newest.images.map((image) => image.name)).to.deep.equal(['c.png', 'a.png'])
    expect(newest.images[0].thumbnail).to.equal('/thumbs/c.png')
    const rest = (await (
      await fetch(`${running.base}/api/images?limit=2&after=${encodeURIComponent(newest.next!)}`)
    ).json()) as {images: Array<{name: string}>; next: string | null}
    expect(rest.images.map((image) => image.name)).to.deep.equal(['b.png'])
    expect(rest.next).to.equal(null)
    const byName = (await (await fetch(`${running.base}/api/images?sort=name`)).json()) as {
      images: Array<{name: string}>
    }
    expect(byName.images.map((image) => image.name)).to.deep.equal(['a.png', 'b.png', 'c.png'])
  })
})
