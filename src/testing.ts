/**
 * Helpers for testing a command plugin against a real server in-process
 * (`import {startTestServer} from 'image-sharing-service/testing'`). Kept out of the main entry so
 * that client commands do not load server code.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_SIZE,
  DEFAULT_MIN_RATE_BYTES,
  DEFAULT_RATE_WINDOW_MS,
  type ServerConfig,
} from './core/config.js'
import type {PluginRecord} from './core/discovery.js'
import {createIssServer, type IssServer} from './core/server-app.js'

export type {IssServer} from './core/server-app.js'
export type {PluginRecord} from './core/discovery.js'

/** A running server on 127.0.0.1 with a fresh temporary store. */
export interface TestServer {
  readonly server: IssServer
  readonly address: AddressInfo
  readonly port: number
  /** The store directory. */
  readonly storage: string
  /** Stops the server and removes the store. */
  stop(): Promise<void>
}

/** The package.json of a plugin root as discovery reads it. */
export function pluginRecord(root: string): PluginRecord {
  const absolute = resolve(root)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pjson = require(join(absolute, 'package.json')) as PluginRecord['pjson'] & {name: string}
  return {name: pjson.name, root: absolute, pjson, type: 'link'}
}

/**
 * Starts a server that serves the built-in commands plus the handlers of the plugin roots given
 * (each a folder with a package.json declaring `iss.handlers`), on a free port.
 */
export async function startTestServer(
  options: {pluginRoots?: readonly string[]; config?: Partial<ServerConfig>} = {},
): Promise<TestServer> {
  const storage = await mkdtemp(join(tmpdir(), 'iss-test-store-'))
  const config: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    storage,
    maxSize: DEFAULT_MAX_SIZE,
    storageOptions: {minFree: 0, fsync: false},
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
    minRateBytes: DEFAULT_MIN_RATE_BYTES,
    rateWindowMs: DEFAULT_RATE_WINDOW_MS,
    shutdownGraceMs: 2000,
    ...options.config,
  }
  const plugins = [pluginRecord(join(__dirname, '..', '..')), ...(options.pluginRoots ?? []).map(pluginRecord)]
  const server = await createIssServer({config, plugins})
  const address = await server.listen()
  return {
    server,
    address,
    port: address.port,
    storage,
    async stop() {
      await server.close()
      await rm(storage, {recursive: true, force: true})
    },
  }
}
