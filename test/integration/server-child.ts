// A server in its own process, for tests that kill or signal it. Settings come as JSON in argv[2];
// prints "PORT <n>" once listening, exits 0 after a graceful stop on SIGTERM/SIGINT.
import type {ServerConfig} from '../../src/core/config.js'
import {createIssServer} from '../../src/core/server-app.js'
import {corePlugin, loadModule} from './server-harness.js'

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]) as ServerConfig
  const server = await createIssServer({config, plugins: [corePlugin()], load: loadModule, lingerMs: 2000})
  const address = await server.listen()
  process.stdout.write(`PORT ${address.port}\n`)
  const stop = () => {
    void server.close().then(() => process.exit(0))
  }

  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exit(3)
})
