// The gallery in a real browser (Debian's chromium): what a person sees and does on the page, against
// `iss serve --http` started from the built CLI, with images stored by the `iss put` CLI.
import {expect} from 'chai'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import type {Browser, Page} from 'playwright-core'

import {realJpeg, realPng} from '../integration/http-harness.js'
import {runCli, tempDir} from './cli-harness.js'
import {ARTIFACTS, type GalleryServer, launchChromium, startGalleryServer} from './gallery-harness.js'

/** A valid name full of HTML's special characters (ASCII < and > are refused by the name rules; these look alike). */
const HOSTILE_NAME = `＜script＞alert(1)＜script＞ & "x" onerror='y'.png`.replace('"x"', 'x')

/** A page element, typed loosely: these tests compile without the DOM library. */
type PageElement = {naturalWidth: number; textContent: string | null; getAttribute(name: string): string | null}

/**
 * Waits (bounded) until every thumbnail has decoded in the page (a real image, not a broken icon).
 * Polled from here: the page's Content-Security-Policy forbids playwright's in-page polling (eval).
 */
async function thumbnailsDecoded(page: Page): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const widths = await page.$$eval('#grid img', (images) =>
      (images as unknown as PageElement[]).map((image) => image.naturalWidth),
    )
    if (widths.length > 0 && widths.every((width) => width > 0)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  throw new Error('the thumbnails did not decode within 20 s')
}

describe('gallery in a real browser', function () {
  this.timeout(120_000)
  let dir: string
  let server: GalleryServer
  let browser: Browser
  let writeToken: string

  async function iss(args: string[], extraEnv: Record<string, string> = {}) {
    return runCli(args, {env: {...server.env, ISS_PORT: String(server.port), ...extraEnv}, timeoutMs: 30_000})
  }

  async function file(name: string, data: Buffer): Promise<string> {
    const target = path.join(dir, 'files', name)
    writeFileSync(target, data)
    return target
  }

  before(async () => {
    dir = tempDir('iss-gallery-e2e-')
    mkdirSync(path.join(dir, 'files'))
    const dataDir = path.join(dir, 'data')
    // A tokens file: anonymous requests may read only, the page needs a token to upload.
    const created = await runCli(['token', 'create', 'uploader', '--scope', 'write'], {env: {ISS_DATA_DIR: dataDir}})
    expect(created.code, created.stderr).to.equal(0)
    writeToken = created.stdout.trim()
    server = await startGalleryServer(dataDir, path.join(dir, 'store'))
    for (const [name, data] of [
      ['sunset.png', await realPng(320, 200, 1)],
      ['harbour.jpg', await realJpeg(200, 300, 2)],
      [HOSTILE_NAME, await realPng(100, 100, 3)],
    ] as const) {
      const put = await iss(['put', await file(name, data)], {ISS_TOKEN: writeToken})
      expect(put.code, put.stderr).to.equal(0)
    }

    browser = await launchChromium()
  })

  after(async () => {
    await browser?.close()
    await server?.stop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  async function openGallery(viewport = {width: 1280, height: 800}): Promise<Page> {
    const page = await browser.newPage({viewport})
    await page.goto(server.base)
    await page.waitForSelector('body[data-ready="true"]')
    await page.waitForSelector('body[data-live="ready"]')
    return page
  }

  async function shownNames(page: Page): Promise<string[]> {
    return page.$$eval('#grid img', (images) =>
      (images as unknown as PageElement[]).map((image) => image.getAttribute('alt') ?? ''),
    )
  }

  it('shows one thumbnail per stored image, each with its name as alt text, and the names as text', async () => {
    const page = await openGallery()
    try {
      const listed = await iss(['list'])
      const stored = listed.stdout.trim().split('\n').toSorted()
      expect(stored).to.have.length(3)
      expect((await shownNames(page)).toSorted()).to.deep.equal(stored)
      // Every thumbnail decodes in the browser (a real image, not a broken icon).
      await thumbnailsDecoded(page)
    } finally {
      await page.close()
    }
  })

  it('shows a name made of HTML special characters as text, never as markup', async () => {
    const page = await openGallery()
    try {
      const labels = await page.$$eval('#grid .name', (spans) =>
        (spans as unknown as PageElement[]).map((span) => span.textContent),
      )
      expect(labels).to.include(HOSTILE_NAME)
      expect(await page.$$('#grid script, #grid [onerror]')).to.have.length(0)
      // And the real characters are refused by the server's name rules, over HTTP too.
      const refused = await page.evaluate<number>("fetch('/images/%3Cscript%3E.png').then((answer) => answer.status)")
      expect(refused).to.equal(400)
    } finally {
      await page.close()
    }
  })

  it('shows an image stored with iss put in the open page within a second', async () => {
    const page = await openGallery()
    try {
      const source = await file('fresh.png', await realPng(90, 60, 7))
      const put = await iss(['put', source], {ISS_TOKEN: writeToken})
      expect(put.code, put.stderr).to.equal(0)
      const stored = Date.now()
      await page.waitForSelector('#grid img[alt="fresh.png"]', {timeout: 1000})
      expect(Date.now() - stored).to.be.below(1000)
    } finally {
      await page.close()
    }
  })

  it('opens the lightbox with the keyboard, steps with the arrows, and closes with Escape', async () => {
    const page = await openGallery()
    try {
      await page.focus('#grid .card')
      await page.keyboard.press('Enter')
      await page.waitForSelector('#lightbox[open]')
      const first = await page.textContent('#lightbox-name')
      expect(first).to.equal((await shownNames(page))[0])
      expect(await page.textContent('#lightbox-facts')).to.match(/ × .* px/)
      await page.keyboard.press('ArrowRight')
      expect(await page.textContent('#lightbox-name')).to.equal((await shownNames(page))[1])
      await page.keyboard.press('ArrowLeft')
      expect(await page.textContent('#lightbox-name')).to.equal(first)
      await page.keyboard.press('Escape')
      await page.waitForSelector('#lightbox', {state: 'hidden'})
    } finally {
      await page.close()
    }
  })

  it('explains why an upload without a token was refused, and stores nothing', async () => {
    const page = await openGallery()
    try {
      const chooser = page.waitForEvent('filechooser')
      await page.click('#upload-label')
      await (await chooser).setFiles(await file('refused.png', await realPng(40, 40, 9)))
      await page.waitForSelector('#uploads .status.error')
      const why = await page.textContent('#uploads .status.error')
      expect(why).to.contain('needs an access token')
      expect(why).to.contain('Token button')
      expect((await iss(['list'])).stdout).not.to.contain('refused.png')
    } finally {
      await page.close()
    }
  })

  it('uploads through the file chooser with a token, kept for the tab only; iss list then shows it', async () => {
    const page = await openGallery()
    try {
      await page.click('#token-button')
      await page.fill('#token-input', writeToken)
      await page.click('#token-save')
      await page.waitForSelector('#token-dialog', {state: 'hidden'})
      expect(await page.evaluate<string | null>("sessionStorage.getItem('iss.token')")).to.equal(writeToken)
      expect(await page.evaluate<number>('localStorage.length')).to.equal(0)
      expect((await page.context().cookies()).length).to.equal(0)

      const chooser = page.waitForEvent('filechooser')
      await page.click('#upload-label')
      await (await chooser).setFiles(await file('uploaded.png', await realPng(120, 80, 11)))
      await page.locator('#uploads .status', {hasText: 'stored'}).first().waitFor({timeout: 20_000})
      await page.waitForSelector('#grid img[alt="uploaded.png"]', {timeout: 2000})
      expect((await iss(['list'])).stdout.split('\n')).to.include('uploaded.png')
    } finally {
      await page.close()
    }
  })

  it('is usable at desktop and phone sizes, in light and dark mode (screenshots in test-artifacts/)', async () => {
    mkdirSync(ARTIFACTS, {recursive: true})
    for (const [label, viewport, scheme] of [
      ['desktop', {width: 1280, height: 800}, 'light'],
      ['phone', {width: 390, height: 844}, 'light'],
      ['desktop-dark', {width: 1280, height: 800}, 'dark'],
    ] as const) {
      const page = await browser.newPage({viewport, colorScheme: scheme})
      try {
        await page.goto(server.base)
        await page.waitForSelector('body[data-ready="true"]')
        await thumbnailsDecoded(page)
        // Nothing wider than the screen: no sideways scrolling on a phone.
        const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth')
        expect(overflow, label).to.be.at.most(0)
        const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor')
        expect(background, label).to.equal(scheme === 'dark' ? 'rgb(18, 20, 23)' : 'rgb(246, 247, 249)')
        const target = path.join(ARTIFACTS, `gallery-${label}.png`)
        await page.screenshot({path: target})
      } finally {
        await page.close()
      }
    }
  })
})
