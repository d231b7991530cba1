import {Command, Flags, type Interfaces} from '@oclif/core'
import {isIP} from 'node:net'
import {join} from 'node:path'

import {accessServeFlags} from '../core/access/flags.js'
import type * as serveAccess from '../core/access/serve-access.js'
import {formatByteSize} from '../core/byte-size.js'
import {galleryServeFlags, startServeGallery} from '../core/http/gallery-serve.js'
import {sizeFlag} from '../core/size-flag.js'
import {speedServeFlags, speedStorageOptions} from '../core/speed-flags.js'
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_SIZE,
  DEFAULT_MIN_FREE,
  DEFAULT_MIN_RATE_BYTES,
  DEFAULT_PORT,
  DEFAULT_RATE_WINDOW_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type ServerConfig,
} from '../core/config.js'
import type {PluginRecord} from '../core/discovery.js'
import {unknownFlagMessage} from '../core/did-you-mean.js'
import {createLogger, LOG_LEVELS} from '../core/logger.js'
import {StartupError} from '../core/registry.js'
import type * as serverApp from '../core/server-app.js'
import type {IssServer} from '../core/server-app.js'
import {setUpServeTls, tlsServeFlags} from '../core/tls/serve-flags.js'

/** Exit codes (DESIGN.md): 2 for a bad flag or a bad plugin set, 3 when the server cannot take its port or store. */
const EXIT_LOCAL = 2
const EXIT_START = 3

const size = sizeFlag()

/** The one line for a port that cannot be listened on: a busy one names the flag that picks another. */
function listenFailure(error: unknown, host: string, port: number, flag: string): string {
  const code = (error as NodeJS.ErrnoException).code
  const why =
    code === 'EADDRINUSE'
      ? `the port is already in use (another iss serve?); choose another with ${flag}`
      : code === 'EACCES'
        ? 'permission denied'
        : (error as Error).message
  return `cannot listen on ${host}:${port}: ${why}`
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1' || host === '0:0:0:0:0:0:0:1'
}

export default class Serve extends Command {
  static override summary = 'Run the image server.'

  static override description =
    'Stores JPEG and PNG images in a folder or an S3 bucket (--storage) and serves PUT, GET, LIST and every ' +
    'command an installed plugin adds, to iss clients and to clients of the original Python seed protocol, ' +
    'over TCP or TLS (--tls), with access tokens (--tokens) and an optional web gallery (--http). ' +
    'Stops gracefully on SIGINT or SIGTERM; reloads its TLS certificate on SIGHUP.'

  static override examples = [
    {command: '<%= config.bin %> <%= command.id %>', description: 'Serve on 127.0.0.1:9595 from the default store.'},
    {
      command: '<%= config.bin %> <%= command.id %> --host 0.0.0.0 --storage /srv/images --max-size 1GiB',
      description: 'Serve the whole network: anonymous requests may read, token holders what their scope allows.',
    },
  ]

  static override flags = {
    ...tlsServeFlags,
    host: Flags.string({
      description:
        'Address to listen on. Anything but loopback needs tokens (iss token create) or an explicit --anonymous.',
      env: 'ISS_SERVE_HOST',
      default: '127.0.0.1',
    }),
    port: Flags.integer({description: 'TCP port.', env: 'ISS_SERVE_PORT', default: DEFAULT_PORT, min: 0, max: 65535}),
    storage: Flags.string({
      description:
        'Where images live: a folder (default: images/ in the iss data directory), or a URL whose scheme names a ' +
        'store backend, with its options as query parameters, e.g. file:///srv/images?minFree=1GiB (see docs/plugins.md).',
      env: 'ISS_STORAGE',
    }),
    'max-size': size({
      description: 'Largest image accepted, e.g. 256MiB, 1GiB, 10MB.',
      env: 'ISS_SERVE_MAX_SIZE',
      default: DEFAULT_MAX_SIZE,
      defaultHelp: async () => formatByteSize(DEFAULT_MAX_SIZE),
    }),
    // The file: store's minFree option (ISS_SERVE_MIN_FREE is that option's variable, read by the store).
    'min-free': size({
      description: 'Disk space to keep free on the store disk; a PUT that would use it answers E_NO_SPACE.',
      defaultHelp: async () => formatByteSize(DEFAULT_MIN_FREE),
    }),
    'max-connections': Flags.integer({
      description: 'Open connections at most; at the limit the longest-idle one is closed to make room.',
      env: 'ISS_SERVE_MAX_CONNECTIONS',
      default: DEFAULT_MAX_CONNECTIONS,
      min: 1,
    }),
    'idle-timeout': Flags.integer({
      description: 'Seconds a connection with no request in progress stays open.',
      env: 'ISS_SERVE_IDLE_TIMEOUT',
      default: DEFAULT_IDLE_TIMEOUT_MS / 1000,
      min: 1,
    }),
    'shutdown-grace': Flags.integer({
      description: 'Seconds requests in flight may take to finish after SIGINT or SIGTERM.',
      default: DEFAULT_SHUTDOWN_GRACE_MS / 1000,
      min: 0,
    }),
    // The file: store's fsync option.
    fsync: Flags.boolean({
      description:
        'fsync each image before answering OK. --no-fsync is UNSAFE (a crash can lose stored images); benchmarks only.',
      allowNo: true,
    }),
    'log-level': Flags.option({options: LOG_LEVELS, default: 'info', env: 'ISS_SERVE_LOG_LEVEL'})({
      description: 'Level of the JSON request log on stdout.',
    }),
    ...speedServeFlags,
    ...accessServeFlags,
    ...galleryServeFlags,
  }

  /** One unwrapped line on stderr, so that it can be grepped whatever the terminal width. */
  private warnLine(message: string): void {
    process.stderr.write(`iss serve: warning: ${message}\n`)
  }

  /** oclif's parse errors exit 1; usage errors are 2 in iss (DESIGN.md). */
  protected override async catch(error: Interfaces.CommandError): Promise<unknown> {
    const typo = unknownFlagMessage(error, this.config.bin, 'serve', Serve.flags)
    if (typo !== undefined) {
      process.stderr.write(typo + '\n')
      this.exit(EXIT_LOCAL)
    }

    if ((error as {parse?: unknown}).parse !== undefined) {
      ;(error as {oclif?: {exit?: number}}).oclif = {...(error as {oclif?: object}).oclif, exit: EXIT_LOCAL}
    }

    return super.catch(error)
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Serve)
    const storageOptions: Record<string, number | boolean> = speedStorageOptions(flags)
    if (flags['min-free'] !== undefined) storageOptions.minFree = flags['min-free']
    if (flags.fsync !== undefined) storageOptions.fsync = flags.fsync
    const config: ServerConfig = {
      host: flags.host,
      port: flags.port,
      storage: flags.storage ?? join(this.config.dataDir, 'images'),
      storageOptions,
      maxSize: flags['max-size'],
      maxConnections: flags['max-connections'],
      idleTimeoutMs: flags['idle-timeout'] * 1000,
      minRateBytes: DEFAULT_MIN_RATE_BYTES,
      rateWindowMs: DEFAULT_RATE_WINDOW_MS,
      shutdownGraceMs: flags['shutdown-grace'] * 1000,
    }
    if (config.maxSize < 1) this.error('--max-size must be at least 1 byte', {exit: EXIT_LOCAL})
    const logger = createLogger({level: flags['log-level']})
    const plugins = this.config.getPluginsList() as unknown as PluginRecord[]
    // The server (DI container, store, transport) loads here, not with the command list: without a manifest
    // oclif imports every command module to list them, and no client command should pay for the server.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const {createIssServer} = require('../core/server-app.js') as typeof serverApp

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const {openServeAccess} = require('../core/access/serve-access.js') as typeof serveAccess
    const access = await openServeAccess({
      tokensPath: flags.tokens ?? join(this.config.dataDir, 'tokens.json'),
      anonymous: flags.anonymous,
      host: config.host,
      logger,
    }).catch((error: unknown) => {
      // One unwrapped line, as the off-loopback refusal must be greppable.
      process.stderr.write(`iss serve: ${(error as Error).message}\n`)
      return this.exit(EXIT_LOCAL)
    })
    const tlsContext = {dataDir: this.config.dataDir, host: config.host, maxSize: config.maxSize, logger}
    const tls = await setUpServeTls(flags, tlsContext).catch((error: unknown) =>
      this.error((error as Error).message, {exit: EXIT_LOCAL}),
    )

    let server: IssServer
    try {
      server = await createIssServer({
        config,
        plugins,
        logger,
        access: access.policy,
        socketFactory: tls?.socketFactory,
      })
    } catch (error) {
      await access.close()
      if (error instanceof StartupError) this.error(error.message, {exit: EXIT_LOCAL})
      this.error(`cannot open the store ${config.storage}: ${(error as Error).message}`, {exit: EXIT_START})
    }

    for (const line of server.refused) this.warnLine(line)

    let address
    try {
      address = await server.listen()
    } catch (error) {
      await server.close()
      await access.close()
      this.error(listenFailure(error, config.host, config.port, '--port'), {exit: EXIT_START})
    }

    // The gallery listens before anything says the server is up: a busy --http port is one line and exit 3.
    const galleryLines: string[] = []
    try {
      await startServeGallery({
        server,
        flags,
        config,
        dataDir: this.config.dataDir,
        logger,
        log(line) {
          galleryLines.push(line)
        },
        tls,
      })
    } catch (error) {
      await server.close()
      await access.close()
      this.error(listenFailure(error, config.host, flags.http ?? 0, '--http'), {exit: EXIT_START})
    }

    const shown =
      address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`
    this.log(`iss serve listening on ${shown}`)
    this.log(`store: ${server.store.describe()}`)
    this.log(access.describe())
    for (const line of tls?.lines ?? []) this.log(line)
    for (const line of galleryLines) this.log(line)
    for (const declaration of server.registry.declarations()) {
      this.log(`serves ${declaration.command} (plugin ${declaration.plugin})`)
      // The readable line above says it already; the module path is for debugging.
      logger.debug(
        {command: declaration.command, plugin: declaration.plugin, module: declaration.modulePath},
        'handler',
      )
    }

    if (!isLoopback(config.host) && access.anonymousWrites()) {
      this.warnLine(
        `listening on ${config.host}, not loopback: anyone who can reach this address can read and write the store ` +
          `(--anonymous ${access.policy.anonymous()})`,
      )
    }

    if (storageOptions.fsync === false) {
      this.warnLine('--no-fsync: images are not flushed to disk before OK; a crash can lose them')
    }

    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        logger.info({signal}, 'shutting down')
        tls?.close()
        // A store that cannot be cleaned up (a disk gone read-only) is one log line, not a stack trace.
        void server
          .close()
          .catch((error: unknown) => {
            logger.error({err: (error as Error).message}, 'the store did not close cleanly')
            process.exitCode = EXIT_START
          })
          .then(async () => access.close())
          .finally(resolve)
      }

      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    logger.info('stopped')
    logger.flush()
  }
}
