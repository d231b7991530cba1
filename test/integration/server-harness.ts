// Shared by the server integration tests: a real server on 127.0.0.1 port 0 with a temporary store,
// and a raw protocol client that can misbehave on purpose.
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import type {ServerConfig} from '../../src/core/config.js'
import type {ModuleLoader, PluginRecord} from '../../src/core/discovery.js'
import type {ByteOrder} from '../../src/core/protocol/frame-header.js'
import type {Message} from '../../src/core/protocol/message.js'
import {MessageReader, type ReaderEvent} from '../../src/core/protocol/message-reader.js'
import {encodeFrame, type OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import type {PickleValue} from '../../src/core/protocol/values.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {jpegImage, pngImage} from '../fixtures/images.js'

/** The repository root, whether the tests run from test/ (tsx) or dist/test/ (compiled). */
export const REPO_ROOT = (() => {
  let dir = __dirname
  for (let i = 0; i < 10 && !existsSync(join(dir, 'package.json')); i++) dir = dirname(dir)
  return dir
})()

const FROM_SOURCE = __filename.endsWith('.ts')

/** The core package as discovery sees it: its own package.json declares PUT, GET and LIST. */
export function corePlugin(): PluginRecord {
  const pjson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'))
  return {name: pjson.name, root: REPO_ROOT, pjson, type: 'core'}
}

/** Under tsx the declared ./dist/src/... modules are loaded from their sources, as oclif does in development. */
export const loadModule: ModuleLoader = (path) => {
  const distSrc = join(REPO_ROOT, 'dist', 'src') + '/'
  if (FROM_SOURCE && path.startsWith(distSrc)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a ModuleLoader loads by path at run time, as oclif does
    return require(join(REPO_ROOT, 'src', path.slice(distSrc.length)).replace(/\.js$/, '.ts'))
  }

  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a ModuleLoader loads by path at run time, as oclif does
  return require(path)
}

export interface RunningServer {
  readonly server: IssServer
  readonly port: number
  readonly storage: string
  stop(): Promise<void>
}

/** Test-friendly limits on 127.0.0.1, a free port and the store `storage`. */
export function testConfig(storage: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    storage,
    maxSize: 1024 * 1024,
    storageOptions: {minFree: 0, fsync: false},
    maxConnections: 64,
    idleTimeoutMs: 30_000,
    minRateBytes: 1,
    rateWindowMs: 10_000,
    shutdownGraceMs: 5000,
    ...overrides,
  }
}

/** Starts a server with a fresh temporary store (or `storage`) and test-friendly limits. */
export async function startServer(
  overrides: Partial<ServerConfig> = {},
  options: {lingerMs?: number; plugins?: PluginRecord[]} = {},
): Promise<RunningServer> {
  const isOwnStorage = overrides.storage === undefined
  const storage = overrides.storage ?? mkdtempSync(join(tmpdir(), 'iss-server-'))
  const config = testConfig(storage, overrides)
  const server = await createIssServer({
    config,
    plugins: options.plugins ?? [corePlugin()],
    load: loadModule,
    lingerMs: options.lingerMs ?? 3000,
  })
  const address = await server.listen()
  return {
    server,
    port: address.port,
    storage,
    async stop() {
      await server.close()
      if (isOwnStorage) rmSync(storage, {recursive: true, force: true})
    },
  }
}

/** A PNG as far as the content checks are concerned: signature and IHDR chunk, then a pattern. */
export function png(size = 1000, seed = 1): Buffer {
  return pngImage(size, seed)
}

/** A JPEG as far as the content checks are concerned: SOI and a JFIF segment, then a pattern. */
export function jpeg(size = 1000, seed = 2): Buffer {
  return jpegImage(size, seed)
}

/** A seed request; `version` adds VERSION = 1 as iss clients do. */
export function request(
  command: string,
  filename: string | null = null,
  fileData: Buffer | null = null,
  version = false,
): OutgoingMessage {
  const extra: Record<string, PickleValue> | undefined = version ? {VERSION: 1n} : undefined
  return {COMMAND: command, STATUS: 'REQUEST', DETAILS: null, FILENAME: filename, FILE_DATA: fileData, extra}
}

/** A raw client: sends frames or arbitrary bytes, reads whole answers. Every wait is bounded. */
export class RawClient {
  private readonly reader = new MessageReader({
    maxFrameBytes: 256 * 1024 * 1024,
    byteOrder: 'detect',
    streamKeys: [],
    limits: {maxStringBytes: 256 * 1024 * 1024, maxTotalBytes: 512 * 1024 * 1024},
  })

  private readonly messages: Message[] = []
  private readonly waiters: Array<() => void> = []
  closed = false
  error: Error | null = null

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      const events: ReaderEvent[] = []
      try {
        this.reader.write(chunk, events)
      } catch (error) {
        this.error = error as Error
        socket.destroy()
      }

      for (const event of events) if (event.type === 'message') this.messages.push(event.message)
      this.wake()
    })
    socket.on('error', (error) => {
      this.error = error
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
  }

  static async connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({port, host: '127.0.0.1'}, () => {
        resolve(new RawClient(socket))
      })
      socket.once('error', reject)
    })
  }

  send(message: OutgoingMessage, options: {byteOrder?: ByteOrder; protocol?: 2 | 3 | 4 | 5} = {}): void {
    this.socket.write(encodeFrame(message, {protocol: options.protocol ?? 4, byteOrder: options.byteOrder ?? 'big'}))
  }

  async write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.write(bytes)) resolve()
      else
        this.socket.once('drain', () => {
          resolve()
        })
    })
  }

  /** The next answer; rejects if the connection closes first or nothing comes within `timeoutMs`. */
  async read(timeoutMs = 10_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs
    while (this.messages.length === 0) {
      if (this.closed) throw new Error('connection closed before an answer')
      const left = deadline - Date.now()
      if (left <= 0) throw new Error('no answer in time')
      await this.wait(left)
    }

    return this.messages.shift()!
  }

  /** Resolves once the server has closed the connection (true), or false after `timeoutMs`. */
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed) {
      const left = deadline - Date.now()
      if (left <= 0) return false
      await this.wait(left)
    }

    return true
  }

  close(): void {
    this.socket.destroy()
  }

  private async wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }

      this.waiters.push(done)
    })
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter()
  }
}

/** One request on its own connection. */
export async function roundTrip(port: number, message: OutgoingMessage): Promise<Message> {
  const client = await RawClient.connect(port)
  try {
    client.send(message)
    return await client.read()
  } finally {
    client.close()
  }
}

/** Waits until `check` holds, polling; false after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  return false
}
