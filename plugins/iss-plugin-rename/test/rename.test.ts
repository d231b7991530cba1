import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {ClientConnection, type Message} from 'image-sharing-service'
import {startTestServer, type TestServer} from 'image-sharing-service/testing'

/** The plugin's folder, seen from dist/test/. */
const PLUGIN_ROOT = join(__dirname, '..', '..')
// A 1 x 1 PNG's signature and IHDR chunk (what the server checks of a PNG), then filler.
const PNG = Buffer.concat([
  Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex'),
  Buffer.from('the rest of a small png'),
])

async function connect(port: number): Promise<ClientConnection> {
  return ClientConnection.connect({host: '127.0.0.1', port, timeoutMs: 10_000, byteOrder: 'big', maxSize: 1 << 20})
}

async function request(
  client: ClientConnection,
  COMMAND: string,
  FILENAME: string,
  DETAILS: string | null = null,
  FILE_DATA: Buffer | null = null,
): Promise<Message> {
  return client.request({COMMAND, STATUS: 'REQUEST', DETAILS, FILENAME, FILE_DATA, extra: {VERSION: 1n}})
}

describe('iss-plugin-rename: the RENAME handler on a real server', () => {
  let server: TestServer
  let client: ClientConnection

  const send = async (COMMAND: string, FILENAME: string, DETAILS: string | null = null, data: Buffer | null = null) =>
    request(client, COMMAND, FILENAME, DETAILS, data)

  /** The names in the store folder, without the hidden temporary area and lock. */
  async function storedFiles(): Promise<string[]> {
    return (await readdir(server.storage)).filter((name) => !name.startsWith('.')).sort()
  }

  beforeEach(async () => {
    server = await startTestServer({pluginRoots: [PLUGIN_ROOT]})
    client = await connect(server.port)
  })

  afterEach(async () => {
    // Optional: a failed beforeEach may leave them unset.
    client?.close()
    await server?.stop()
  })

  it('is served next to the built-in commands, declared by this plugin with the delete scope', () => {
    const declaration = server.server.registry.declarations().find((d) => d.command === 'RENAME')
    expect(declaration?.plugin).to.equal('iss-plugin-rename')
    // The old name disappears, as with DELETE: a token needs the delete scope.
    expect(declaration?.scope).to.equal('delete')
  })

  it('renames a stored image found case-insensitively; the answer names the new stored name', async () => {
    expect((await send('PUT', 'Cat.png', null, PNG)).STATUS).to.equal('OK')
    const renamed = await send('RENAME', 'CAT.PNG', 'Kitten.PNG')
    expect(renamed.STATUS).to.equal('OK')
    expect(renamed.FILENAME).to.equal('Kitten.PNG')
    expect(renamed.DETAILS).to.equal("File 'Cat.png' renamed to 'Kitten.PNG'")

    expect((await send('GET', 'Cat.png')).CODE).to.equal('E_NOT_FOUND')
    const got = await send('GET', 'kitten.png')
    expect(got.STATUS).to.equal('OK')
    expect(got.FILENAME).to.equal('Kitten.PNG')
    expect(await storedFiles()).to.deep.equal(['Kitten.PNG'])
    expect((await readFile(join(server.storage, 'Kitten.PNG'))).equals(PNG)).to.equal(true)
  })

  it('refuses a new name that is taken (E_DUPLICATE), whatever its case, and changes nothing', async () => {
    expect((await send('PUT', 'a.png', null, PNG)).STATUS).to.equal('OK')
    const other = Buffer.concat([PNG, Buffer.from('other')])
    expect((await send('PUT', 'b.png', null, other)).STATUS).to.equal('OK')
    const refused = await send('RENAME', 'a.png', 'B.png')
    expect(refused.STATUS).to.equal('ERROR')
    expect(refused.CODE).to.equal('E_DUPLICATE')
    expect(await storedFiles()).to.deep.equal(['a.png', 'b.png'])
    expect((await readFile(join(server.storage, 'b.png'))).equals(other)).to.equal(true)
  })

  it('refuses a new name whose type the bytes contradict (PNG bytes as .jpg: E_CONTENT_MISMATCH)', async () => {
    expect((await send('PUT', 'photo.png', null, PNG)).STATUS).to.equal('OK')
    const refused = await send('RENAME', 'photo.png', 'photo.jpg')
    expect(refused.STATUS).to.equal('ERROR')
    expect(refused.CODE).to.equal('E_CONTENT_MISMATCH')
    expect(refused.DETAILS).to.equal("File 'photo.jpg' does not contain JPEG data")
    expect(await storedFiles()).to.deep.equal(['photo.png'])
  })

  it('answers E_NOT_FOUND for a missing image and E_BAD_NAME without a usable new name', async () => {
    expect((await send('RENAME', 'none.png', 'x.png')).CODE).to.equal('E_NOT_FOUND')
    expect((await send('PUT', 'here.png', null, PNG)).STATUS).to.equal('OK')
    expect((await send('RENAME', 'here.png', null)).CODE).to.equal('E_BAD_NAME')
    expect((await send('RENAME', 'here.png', '../up.png')).CODE).to.equal('E_BAD_NAME')
    expect((await send('RENAME', 'here.png', 'here.gif')).CODE).to.equal('E_UNSUPPORTED_TYPE')
  })

  it('gives exactly one OK to 20 concurrent renames onto one target, from 20 connections', async () => {
    for (let i = 0; i < 20; i++) {
      expect((await send('PUT', `src-${i}.png`, null, Buffer.concat([PNG, Buffer.from(String(i))]))).STATUS).to.equal(
        'OK',
      )
    }

    const clients = await Promise.all(Array.from({length: 20}, async () => connect(server.port)))
    try {
      const answers = await Promise.all(clients.map(async (c, i) => request(c, 'RENAME', `src-${i}.png`, 'target.png')))
      const ok = answers.filter((answer) => answer.STATUS === 'OK')
      expect(ok).to.have.length(1)
      expect(answers.filter((answer) => answer.CODE === 'E_DUPLICATE')).to.have.length(19)
      const files = await storedFiles()
      expect(files).to.have.length(20)
      expect(files).to.include('target.png')
    } finally {
      for (const c of clients) c.close()
    }
  })

  it('serves a Python client written from the seed: RENAME with DETAILS gets OK and the five seed keys', async () => {
    expect((await send('PUT', 'dog.png', null, PNG)).STATUS).to.equal('OK')
    const script = `
import pickle, socket, struct, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
p = pickle.dumps({'COMMAND': 'RENAME', 'STATUS': 'REQUEST', 'DETAILS': 'puppy.png', 'FILENAME': 'dog.png', 'FILE_DATA': None})
s.sendall(struct.pack('I', len(p)) + p)
def exact(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise SystemExit('closed')
        b += c
    return b
answer = pickle.loads(exact(struct.unpack('I', exact(4))[0]))
print(sorted(answer.keys()), answer['STATUS'], answer['FILENAME'])
`
    // Asynchronously: the server runs in this process and must keep answering meanwhile.
    const result = await promisify(execFile)('python3', ['-c', script, String(server.port)], {timeout: 15_000})
    expect(result.stderr).to.equal('')
    expect(result.stdout.trim()).to.equal("['COMMAND', 'DETAILS', 'FILENAME', 'FILE_DATA', 'STATUS'] OK puppy.png")
    expect((await send('GET', 'puppy.png')).STATUS).to.equal('OK')
  })
})
