// Child process for the client hostile-server tests: one request through a ClientConnection, then one
// JSON line on stdout with the outcome, the time it took and the process's peak RSS, so that a test can
// bound the client's memory without the noise of its own heap.
import {ClientConnection, isConnectionError} from '../../src/core/transport/client-connection.js'

async function main(): Promise<void> {
  const [port, timeoutMs, command] = process.argv.slice(2)
  const started = Date.now()
  let outcome: Record<string, unknown>
  try {
    const connection = await ClientConnection.connect({
      host: '127.0.0.1',
      port: Number(port),
      timeoutMs: Number(timeoutMs),
      byteOrder: 'big',
      maxSize: 256 * 1024 * 1024,
    })
    const message = await connection.request({
      COMMAND: command,
      STATUS: 'REQUEST',
      DETAILS: null,
      FILENAME: command === 'LIST' ? null : 'x.png',
      FILE_DATA: null,
    })
    connection.close()
    outcome = {outcome: 'message', status: message.STATUS}
  } catch (error) {
    outcome = {
      outcome: 'error',
      kind: isConnectionError(error) ? error.kind : null,
      message: (error as Error).message.slice(0, 300),
    }
  }

  outcome.ms = Date.now() - started
  outcome.maxRssBytes = process.resourceUsage().maxRSS * 1024
  process.stdout.write(JSON.stringify(outcome) + '\n')
}

void main().then(() => process.exit(0))
