import type {ServerResponse} from 'node:http'

/** Open pages at most; one more is answered 503 (each holds a socket). */
export const MAX_LIVE_CLIENTS = 256
/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const HEARTBEAT_MS = 15_000
/** A page that reads slower than this much queued output is dropped (it reloads on reconnect). */
const MAX_QUEUED_BYTES = 1024 * 1024

/**
 * Server-sent events to open gallery pages: one `text/event-stream` response per page, each change
 * written to all of them. A page that does not keep up is disconnected rather than buffered without
 * bound; it reconnects and reloads its page of images.
 */
export class LiveEvents {
  private readonly clients = new Set<ServerResponse>()
  private readonly heartbeat: NodeJS.Timeout

  constructor() {
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  /** False when the limit is reached; the caller answers 503. */
  get hasRoom(): boolean {
    return this.clients.size < MAX_LIVE_CLIENTS
  }

  get size(): number {
    return this.clients.size
  }

  /** Takes over a response as an event stream until the page goes away. */
  add(response: ServerResponse, headers: Record<string, string>): void {
    response.writeHead(200, {
      ...headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    })
    // The first line tells the page it is connected (it reloads what it may have missed meanwhile).
    response.write('event: hello\ndata: {}\n\n')
    this.clients.add(response)
    response.on('close', () => this.clients.delete(response))
  }

  /** Sends one event to every page. `data` is JSON-encoded (one line: JSON has no raw newlines). */
  send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  /** Ends every stream (shutdown). */
  close(): void {
    clearInterval(this.heartbeat)
    for (const client of this.clients) client.end()
    this.clients.clear()
  }

  private write(text: string): void {
    for (const client of this.clients) {
      if (client.writableLength > MAX_QUEUED_BYTES) {
        client.destroy()
        this.clients.delete(client)
      } else {
        client.write(text)
      }
    }
  }
}
