import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

/** One file of the page, held in memory (the page is a few kilobytes). */
export interface PageAsset {
  readonly body: Buffer
  readonly type: string
  readonly etag: string
}

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'gallery.js': 'text/javascript; charset=utf-8',
  'gallery.css': 'text/css; charset=utf-8',
  'placeholder.svg': 'image/svg+xml',
  'icon.svg': 'image/svg+xml',
}

/** The package's gallery/ folder, found from this module whether it runs from src/ (tsx) or dist/src/. */
export function pageFolder(): string {
  let dir = __dirname
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'gallery', 'index.html'))) {
      return join(dir, 'gallery')
    }

    dir = dirname(dir)
  }

  throw new Error(`cannot find the gallery's page files (gallery/index.html) above ${__dirname}`)
}

/**
 * The page's files (HTML, script, style, images), served as files so that the Content-Security-Policy
 * can forbid inline script and style.
 */
export function loadPageAssets(folder = pageFolder()): ReadonlyMap<string, PageAsset> {
  const assets = new Map<string, PageAsset>()
  for (const [name, type] of Object.entries(TYPES)) {
    const body = readFileSync(join(folder, name))
    assets.set(name, {body, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`})
  }

  return assets
}
