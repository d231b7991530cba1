#!/usr/bin/env node
'use strict'
// Refreshes the README's screenshot of the gallery (docs/gallery.png): starts `iss serve --http` on a
// temporary store, stores a few generated images with `iss put`, and photographs the page in Debian's
// chromium (playwright-core; ISS_CHROMIUM names another binary). Run after `npm run build`.
const {spawn, spawnSync} = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')
const {chromium} = require('playwright-core')
const sharp = require('sharp')

const root = path.join(__dirname, '..')
const bin = path.join(root, 'bin', 'run.js')
const target = path.join(root, 'docs', 'gallery.png')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iss-screenshot-'))
  const env = {...process.env, ISS_DATA_DIR: path.join(dir, 'data'), NO_COLOR: '1'}
  const server = spawn(
    process.execPath,
    [bin, 'serve', '--port', '0', '--http', '0', '--storage', path.join(dir, 'store'), '--log-level', 'warn'],
    {env, stdio: ['ignore', 'pipe', 'inherit']},
  )
  try {
    const ports = await new Promise((resolve, reject) => {
      const found = {}
      const timer = setTimeout(() => reject(new Error('iss serve did not start in 30 s')), 30_000)
      readline.createInterface({input: server.stdout}).on('line', (line) => {
        found.port ??= /listening on .*:(\d+)\s*$/.exec(line)?.[1]
        found.http ??= /gallery on https?:\/\/.*:(\d+)\/$/.exec(line)?.[1]
        if (found.port && found.http) {
          clearTimeout(timer)
          resolve(found)
        }
      })
    })
    const names = [
      'aurora.png',
      'beach.jpg',
      'city-night.png',
      'desert.jpg',
      'forest.png',
      'glacier.jpg',
      'harbour.png',
      'meadow.jpg',
    ]
    for (const [index, name] of names.entries()) {
      const hue = (index * 47) % 360
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="320"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue},70%,60%)"/><stop offset="1" stop-color="hsl(${(hue + 80) % 360},60%,30%)"/></linearGradient></defs><rect width="480" height="320" fill="url(#g)"/><circle cx="${120 + index * 30}" cy="110" r="46" fill="hsl(${(hue + 180) % 360},80%,80%)"/><path d="M0 320 L${140 + index * 20} ${170 + index * 5} L300 260 L480 ${150 + index * 10} L480 320 Z" fill="hsl(${hue},40%,20%)"/></svg>`
      const image = sharp(Buffer.from(svg))
      const file = path.join(dir, name)
      await (name.endsWith('.png') ? image.png() : image.jpeg({quality: 85})).toFile(file)
      const put = spawnSync(process.execPath, [bin, 'put', file], {
        env: {...env, ISS_PORT: ports.port},
        encoding: 'utf8',
      })
      if (put.status !== 0) throw new Error(`iss put ${name} failed: ${put.stderr}`)
    }

    const browser = await chromium.launch({
      executablePath: process.env.ISS_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    try {
      const page = await browser.newPage({viewport: {width: 1100, height: 640}})
      await page.goto(`http://127.0.0.1:${ports.http}/`)
      await page.waitForSelector('body[data-ready="true"]')
      for (let attempt = 0; attempt < 200; attempt++) {
        const widths = await page.$$eval('#grid img', (images) => images.map((image) => image.naturalWidth))
        if (widths.length === names.length && widths.every((width) => width > 0)) break
        await new Promise((resolve) => {
          setTimeout(resolve, 100)
        })
      }
      await page.screenshot({path: target})
      process.stdout.write(`wrote ${path.relative(root, target)}\n`)
    } finally {
      await browser.close()
    }
  } finally {
    server.kill('SIGTERM')
    await new Promise((resolve) => {
      server.once('exit', resolve)
    })
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

main().catch((error) => {
  process.stderr.write(`screenshot-gallery: ${error.message}\n`)
  process.exit(1)
})
