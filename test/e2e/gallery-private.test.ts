// The gallery of a server whose images need a token to read (`--anonymous none`), in a real browser: an
// <img src> cannot send an Authorization header, so the page fetches each image with the bearer token
// and shows it through a blob: URL.
import {expect} from 'chai'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import type {Browser} from 'playwright-core'

import {realPng} from '../integration/http-harness.js'
import {runCli, tempDir} from './cli-harness.js'
import {type GalleryServer, launchChromium, startGalleryServer} from './gallery-harness.js'

/** A page element, typed loosely: these tests compile without the DOM library. */
type PageImage = {naturalWidth: number; getAttribute(name: string): string | null}

describe('gallery of a server without anonymous read, in a real browser', function () {
  this.timeout(120_000)
  let dir: string
  let server: GalleryServer
  let browser: Browser
  let readToken: string

  before(async () => {
    dir = tempDir('iss-gallery-private-')
    const dataDir = path.join(dir, 'data')
    const token = async (name: string, scope: string) => {
      const created = await runCli(['token', 'create', name, '--scope', scope], {env: {ISS_DATA_DIR: dataDir}})
      expect(created.code, created.stderr).to.equal(0)
      return created.stdout.trim()
    }
    const writeToken = await token('uploader', 'write')
    readToken = await token('viewer', 'read')
    server = await startGalleryServer(dataDir, path.join(dir, 'store'), ['--anonymous', 'none'])
    mkdirSync(path.join(dir, 'files'))
    const image = path.join(dir, 'files', 'private.png')
    writeFileSync(image, await realPng(160, 120, 5))
    const put = await runCli(['put', image], {
      env: {...server.env, ISS_PORT: String(server.port), ISS_TOKEN: writeToken},
    })
    expect(put.code, put.stderr).to.equal(0)
    browser = await launchChromium()
  })

  after(async () => {
    await browser?.close()
    await server?.stop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('shows nothing without a token and asks for one, then the images through blob: URLs once a read token is given', async () => {
    const page = await browser.newPage({viewport: {width: 1280, height: 800}})
    try {
      await page.goto(server.base)
      await page.waitForSelector('body[data-ready="true"]')
      const decodedWithout = await page.$$eval(
        '#grid img',
        (images) => (images as unknown as PageImage[]).filter((image) => image.naturalWidth > 0).length,
      )
      expect(decodedWithout).to.equal(0)

      // The page asks for a token by itself, since it can show nothing without one.
      await page.waitForSelector('#token-dialog[open]', {timeout: 10_000})
      await page.fill('#token-input', readToken)
      await page.click('#token-save')
      await page.waitForSelector('#grid img[alt="private.png"]', {timeout: 20_000})
      // Polled from here: the page's Content-Security-Policy forbids playwright's in-page polling (eval).
      let shown: Array<{src: string; width: number}> = []
      for (let attempt = 0; attempt < 200; attempt++) {
        shown = await page.$$eval('#grid img', (images) =>
          (images as unknown as PageImage[]).map((image) => ({
            src: image.getAttribute('src') ?? '',
            width: image.naturalWidth,
          })),
        )
        if (shown.length > 0 && shown.every((image) => image.width > 0)) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(shown).to.have.length(1)
      expect(shown[0].width).to.be.above(0)
      expect(shown[0].src.startsWith('blob:'), shown[0].src).to.equal(true)
    } finally {
      await page.close()
    }
  })
})
