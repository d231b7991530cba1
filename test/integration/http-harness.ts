// Shared by the gallery's HTTP and browser tests: a real iss server (protocol on one port) with its
// gallery (HTTP on another), both on 127.0.0.1 ports the system picks, over one temporary store.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import zlib from 'node:zlib'
import pino, {type Logger} from 'pino'
import sharp from 'sharp'

import type {ServerConfig} from '../../src/core/config.js'
import type {PluginRecord} from '../../src/core/discovery.js'
import type {AccessPolicy} from '../../src/core/access/policy.js'
import {buildGallery, type Gallery} from '../../src/core/http/gallery-app.js'
import {errorReply} from '../../src/core/reply.js'
import {createIssServer} from '../../src/core/server-app.js'
import {corePlugin, loadModule, REPO_ROOT, type RunningServer, testConfig} from './server-harness.js'

const DELETE_PLUGIN_ROOT = join(REPO_ROOT, 'plugins', 'iss-plugin-delete')

/** The repository's delete plugin, as discovery sees it once installed. */
export function deletePlugin(): PluginRecord {
  const pjson = JSON.parse(readFileSync(join(DELETE_PLUGIN_ROOT, 'package.json'), 'utf8'))
  return {name: pjson.name, root: DELETE_PLUGIN_ROOT, pjson, type: 'user'}
}

export interface RunningGallery {
  readonly server: RunningServer
  readonly gallery: Gallery
  /** http://127.0.0.1:PORT */
  readonly base: string
  readonly httpPort: number
  readonly thumbnailDir: string
  /** Every line the server logged (JSON objects), for warnings. */
  readonly logs: Array<Record<string, unknown>>
  stop(): Promise<void>
}

/** A server with its gallery, test-sized limits and a logger whose lines the test can read. */
export async function startGallery(
  options: {
    config?: Partial<ServerConfig>
    plugins?: PluginRecord[]
    access?: AccessPolicy
    https?: {cert: string; key: string}
  } = {},
): Promise<RunningGallery> {
  const logs: Array<Record<string, unknown>> = []
  const logger: Logger = pino(
    {level: 'info'},
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line))
        done()
      },
    }),
  )
  const storage = mkdtempSync(join(tmpdir(), 'iss-gallery-store-'))
  const iss = await createIssServer({
    config: testConfig(storage, options.config),
    plugins: options.plugins ?? [corePlugin()],
    load: loadModule,
    access: options.access,
  })
  const {port} = await iss.listen()
  const server: RunningServer = {
    server: iss,
    port,
    storage,
    async stop() {
      await iss.close()
      rmSync(storage, {recursive: true, force: true})
    },
  }
  const thumbnailDir = mkdtempSync(join(tmpdir(), 'iss-thumbs-'))
  const maxSize = options.config?.maxSize ?? 1024 * 1024
  const gallery = buildGallery({
    store: iss.store,
    events: iss.events,
    door: {openExchange: iss.openExchange, errorReply: (error, request) => errorReply(error, request, logger)},
    commands: () => iss.registry.commands(),
    scopeOf: (command) => iss.registry.get(command)?.scope,
    access: iss.access,
    logger,
    host: '127.0.0.1',
    port: 0,
    maxSize,
    thumbnailDir,
    headerTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    idleTimeoutMs: 30_000,
    https: options.https,
  })
  const address = await gallery.listen()
  return {
    server,
    gallery,
    base: `${options.https ? 'https' : 'http'}://127.0.0.1:${address.port}`,
    httpPort: address.port,
    thumbnailDir,
    logs,
    async stop() {
      await gallery.close()
      await server.stop()
      rmSync(thumbnailDir, {recursive: true, force: true})
    },
  }
}

/** A real PNG (decodable) of `width` x `height`, coloured by `seed`. */
export async function realPng(width = 64, height = 48, seed = 1): Promise<Buffer> {
  return sharp({
    create: {width, height, channels: 3, background: {r: (seed * 70) % 256, g: (seed * 130) % 256, b: 200}},
  })
    .png()
    .toBuffer()
}

/** A real JPEG (decodable). */
export async function realJpeg(width = 64, height = 48, seed = 1): Promise<Buffer> {
  return sharp({create: {width, height, channels: 3, background: {r: 200, g: (seed * 90) % 256, b: 40}}})
    .jpeg()
    .toBuffer()
}

/**
 * A decompression bomb: a valid PNG (signature, IHDR with its CRC, IDAT, IEND) of `side` x `side`
 * grey pixels, all zero, so that zlib makes it a few hundred kilobytes on disk.
 */
export async function pngBomb(side = 20_000): Promise<Buffer> {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const length = Buffer.alloc(4)
    length.writeUInt32BE(data.length)
    const crc = Buffer.alloc(4)
    // eslint-disable-next-line n/no-unsupported-features/node-builtins -- tests run on the node devDependency (22.23), which has it
    crc.writeUInt32BE(zlib.crc32(body))
    return Buffer.concat([length, body, crc])
  }

  const header = Buffer.alloc(13)
  header.writeUInt32BE(side, 0)
  header.writeUInt32BE(side, 4)
  header[8] = 8 // bit depth
  header[9] = 0 // colour type: grey
  const deflate = zlib.createDeflate({level: 9})
  const compressed: Buffer[] = []
  deflate.on('data', (part: Buffer) => {
    compressed.push(part)
  })
  const row = Buffer.alloc(side + 1) // filter byte 0, then the row's pixels
  const rowsPerWrite = 64
  const block = Buffer.concat(Array.from({length: rowsPerWrite}, () => row))
  for (let written = 0; written < side; written += rowsPerWrite) {
    const rows = Math.min(rowsPerWrite, side - written)
    const ok = deflate.write(rows === rowsPerWrite ? block : block.subarray(0, rows * row.length))
    if (!ok) await new Promise((resolve) => deflate.once('drain', resolve))
  }

  await new Promise((resolve) => deflate.end(resolve))
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', header),
    chunk('IDAT', Buffer.concat(compressed)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

export interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: Buffer
}

/** An HTTP request with the path sent exactly as given (no URL normalisation, unlike fetch), bounded in time. */
export async function rawRequest(
  port: number,
  path: string,
  options: {method?: string; headers?: Record<string, string>; body?: Buffer} = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, timeout: 10_000},
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
        })
        response.on('end', () =>
          resolve({status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks)}),
        )
        response.on('error', reject)
      },
    )
    request.on('timeout', () => request.destroy(new Error(`no answer to ${path} within 10 s`)))
    request.on('error', reject)
    request.end(options.body)
  })
}
