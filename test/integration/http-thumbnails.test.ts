// Thumbnails and live updates of the gallery: made after publish, placeholders for what does not
// decode (a corrupt JPEG, a decompression bomb) without harming the server, gone with the image,
// made again when missing; open pages hear of publishes and deletes from any front door.
import {expect} from 'chai'
import {existsSync, rmSync} from 'node:fs'

import {jpegImage} from '../fixtures/images.js'
import {corePlugin, eventually, request, roundTrip} from './server-harness.js'
import {deletePlugin, pngBomb, realPng, type RunningGallery, startGallery} from './http-harness.js'

/** Reads a server-sent event stream into a list of {event, data}, until `stop` is called. */
function listen(url: string): {events: Array<{event: string; data: unknown}>; stop: () => void} {
  const events: Array<{event: string; data: unknown}> = []
  const controller = new AbortController()
  void (async () => {
    const response = await fetch(url, {signal: controller.signal})
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, {stream: true})
      let end
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event !== undefined && data !== undefined) events.push({event, data: JSON.parse(data)})
      }
    }
  })().catch(() => {})
  return {events, stop: () => controller.abort()}
}

describe('gallery thumbnails and live updates', () => {
  let running: RunningGallery

  beforeEach(async () => {
    running = await startGallery({config: {maxSize: 4 * 1024 * 1024}, plugins: [corePlugin(), deletePlugin()]})
  })

  afterEach(async () => {
    await running.stop()
  })

  async function thumbnail(name: string) {
    const answer = await fetch(`${running.base}/thumbs/${encodeURIComponent(name)}`)
    return {status: answer.status, type: answer.headers.get('content-type'), marker: answer.headers.get('x-thumbnail')}
  }

  it('makes the thumbnail after publish, in the background, and reports the dimensions', async () => {
    const stored = await roundTrip(running.server.port, request('PUT', 'wide.png', await realPng(400, 100), true))
    expect(stored.STATUS).to.equal('OK')
    const image = (await running.server.server.store.stat('wide.png'))!
    const path = running.gallery.thumbnails.cache.thumbnailPath(image)
    expect(await eventually(() => existsSync(path), 5000), 'no thumbnail was made after publish').to.equal(true)
    const listed = (await (await fetch(`${running.base}/api/images`)).json()) as {
      images: Array<{width: number; height: number}>
    }
    expect(listed.images[0]).to.include({width: 400, height: 100})
    expect(await thumbnail('wide.png')).to.deep.equal({status: 200, type: 'image/webp', marker: null})
  })

  it('gives a corrupt JPEG and a 20,000 x 20,000 PNG bomb the placeholder, logs a warning, and keeps serving', async () => {
    const bomb = await pngBomb(20_000)
    expect(bomb.length).to.be.below(2 * 1024 * 1024)
    expect((await roundTrip(running.server.port, request('PUT', 'bomb.png', bomb, true))).STATUS).to.equal('OK')
    expect((await roundTrip(running.server.port, request('PUT', 'broken.jpg', jpegImage(5000), true))).STATUS).to.equal(
      'OK',
    )
    expect(await thumbnail('bomb.png')).to.deep.equal({status: 200, type: 'image/svg+xml', marker: 'placeholder'})
    expect(await thumbnail('broken.jpg')).to.deep.equal({status: 200, type: 'image/svg+xml', marker: 'placeholder'})
    const warned = running.logs.filter((line) => line.level === 40).map((line) => line.image)
    expect(warned).to.include.members(['bomb.png', 'broken.jpg'])
    const listed = (await (await fetch(`${running.base}/api/images?sort=name`)).json()) as {
      images: Array<{name: string; placeholder: boolean; width: number | null}>
    }
    expect(listed.images.map((image) => [image.name, image.placeholder])).to.deep.equal([
      ['bomb.png', true],
      ['broken.jpg', true],
    ])
    expect(listed.images[0].width).to.equal(20_000)
    // Still serving both front doors.
    expect((await fetch(`${running.base}/images/bomb.png`)).status).to.equal(200)
    expect((await roundTrip(running.server.port, request('LIST', null, null, true))).STATUS).to.equal('OK')
  })

  it('removes the thumbnail with the image, and makes a missing one again', async () => {
    await roundTrip(running.server.port, request('PUT', 'gone.png', await realPng(), true))
    expect((await thumbnail('gone.png')).type).to.equal('image/webp')
    const image = (await running.server.server.store.stat('gone.png'))!
    const path = running.gallery.thumbnails.cache.thumbnailPath(image)
    rmSync(path)
    expect((await thumbnail('gone.png')).type).to.equal('image/webp')
    expect(existsSync(path)).to.equal(true)

    const deleted = await fetch(`${running.base}/images/gone.png`, {method: 'DELETE'})
    expect(deleted.status).to.equal(200)
    expect(await eventually(() => !existsSync(path), 5000), 'the thumbnail outlived its image').to.equal(true)
    expect((await thumbnail('gone.png')).status).to.equal(404)
  })

  it('tells open pages of a protocol PUT and an HTTP DELETE within a second', async () => {
    const live = listen(`${running.base}/api/events`)
    try {
      expect(await eventually(() => live.events.some((e) => e.event === 'hello'), 5000)).to.equal(true)
      const started = Date.now()
      await roundTrip(running.server.port, request('PUT', 'live.png', await realPng(), true))
      expect(await eventually(() => live.events.some((e) => e.event === 'published'), 1000)).to.equal(true)
      expect(live.events.find((e) => e.event === 'published')!.data).to.include({name: 'live.png'})
      expect(Date.now() - started).to.be.below(1000)

      await fetch(`${running.base}/images/live.png`, {method: 'DELETE'})
      expect(await eventually(() => live.events.some((e) => e.event === 'deleted'), 1000)).to.equal(true)
      expect(live.events.find((e) => e.event === 'deleted')!.data).to.deep.equal({name: 'live.png'})
    } finally {
      live.stop()
    }
  })
})
