import type {PluginPlan} from '../plan.js'

/** test/<id>.test.ts: mocha + chai against a real server started in-process with this plugin's handlers. */
export function testSource(plan: PluginPlan): string {
  const eventImports = plan.withEvents
    ? `import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
`
    : ''
  const eventTest = plan.withEvents
    ? `
  it('appends one line to the event log per published image', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'events-'))
    process.env.${plan.logEnv} = join(dir, 'events.log')
    try {
      expect((await send('PUT', 'Dog.png', PNG)).STATUS).to.equal('OK')
      await server.server.events.idle()
      const lines = (await readFile(join(dir, 'events.log'), 'utf8')).trim().split('\\n')
      expect(lines).to.have.length(1)
      expect(lines[0]).to.match(/^\\S+ image\\.published Dog\\.png$/)
    } finally {
      delete process.env.${plan.logEnv}
      await rm(dir, {recursive: true, force: true})
    }
  })
`
    : ''
  return `import {expect} from 'chai'
${eventImports}import {join} from 'node:path'

import {ClientConnection, type Message} from 'image-sharing-service'
import {startTestServer, type TestServer} from 'image-sharing-service/testing'

/** The plugin's folder, seen from dist/test/. */
const PLUGIN_ROOT = join(__dirname, '..', '..')
// A 1 x 1 PNG's signature and IHDR chunk: what the server checks of a PNG (33 bytes).
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex')

describe('${plan.verb} on a real server', () => {
  let server: TestServer
  let client: ClientConnection

  async function send(COMMAND: string, FILENAME: string, FILE_DATA: Buffer | null = null): Promise<Message> {
    return client.request({COMMAND, STATUS: 'REQUEST', DETAILS: null, FILENAME, FILE_DATA, extra: {VERSION: 1n}})
  }

  beforeEach(async () => {
    // 127.0.0.1, a free port, a temporary store: the built-in commands plus this plugin's handlers.
    server = await startTestServer({pluginRoots: [PLUGIN_ROOT]})
    client = await ClientConnection.connect({
      host: '127.0.0.1',
      port: server.port,
      timeoutMs: 10_000,
      byteOrder: 'big',
      maxSize: 1 << 20,
    })
  })

  afterEach(async () => {
    // Optional: a failed beforeEach may leave them unset.
    client?.close()
    await server?.stop()
  })

  it('is served next to the built-in commands, declared by this plugin', () => {
    const declaration = server.server.registry.declarations().find((d) => d.command === '${plan.verb}')
    expect(declaration?.plugin).to.equal('${plan.name}')
    expect(declaration?.scope).to.equal('${plan.scope}')
  })

  it('answers with the stored name of an image, matched case-insensitively', async () => {
    expect((await send('PUT', 'Cat.png', PNG)).STATUS).to.equal('OK')
    const answer = await send('${plan.verb}', 'CAT.PNG')
    expect(answer.STATUS).to.equal('OK')
    expect(answer.FILENAME).to.equal('Cat.png')
    expect(answer.DETAILS).to.equal('33 bytes')
  })

  it('answers E_NOT_FOUND for a name that is not stored, and keeps the connection', async () => {
    const answer = await send('${plan.verb}', 'nothing.jpg')
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.CODE).to.equal('E_NOT_FOUND')
    expect((await send('LIST', '')).STATUS).to.equal('OK')
  })

  it('refuses a name that is not a single safe file name', async () => {
    const answer = await send('${plan.verb}', '../escape.png')
    expect(answer.STATUS).to.equal('ERROR')
    expect(answer.CODE).to.equal('E_BAD_NAME')
  })
${eventTest}})
`
}
