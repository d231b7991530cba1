import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {ClientConnection, type Message} from 'image-sharing-service'
import {startTestServer, type TestServer} from 'image-sharing-service/testing'

const PLUGIN_ROOT = join(__dirname, '..', '..')
// The PNG signature and the IHDR chunk of a 1 x 1 RGB image (what the server checks), then filler.
const PNG = Buffer.concat([
  Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de', 'hex'),
  Buffer.from('the rest of a small png'),
])

describe('iss-plugin-delete: the DELETE handler on a real server', () => {
  let server: TestServer
  let client: ClientConnection

  async function send(COMMAND: string, FILENAME: string, FILE_DATA: Buffer | null = null): Promise<Message> {
    return client.request({COMMAND, STATUS: 'REQUEST', DETAILS: null, FILENAME, FILE_DATA, extra: {VERSION: 1n}})
  }

  beforeEach(async () => {
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
    client.close()
    await server.stop()
  })

  it('is served next to the built-in commands, declared by this plugin', () => {
    const declaration = server.server.registry.declarations().find((d) => d.command === 'DELETE')
    expect(declaration?.plugin).to.equal('iss-plugin-delete')
  })

  it('removes a stored image, matching its name case-insensitively, and answers with the stored name', async () => {
    expect((await send('PUT', 'Cat.png', PNG)).STATUS).to.equal('OK')

    const deleted = await send('DELETE', 'CAT.PNG')
    expect(deleted.STATUS).to.equal('OK')
    expect(deleted.FILENAME).to.equal('Cat.png')

    const get = await send('GET', 'Cat.png')
    expect(get.STATUS).to.equal('ERROR')
    expect(get.CODE).to.equal('E_NOT_FOUND')
    const list = await send('LIST', '')
    expect(list.DETAILS).to.be.a('string')
    // Nothing of the image is left in the store, not even a temporary file.
    const left = (await readdir(server.storage)).filter((name) => !name.startsWith('.'))
    expect(left).to.deep.equal([])
  })

  it('answers E_NOT_FOUND for a name that is not stored, and keeps the connection', async () => {
    const missing = await send('DELETE', 'nothing.jpg')
    expect(missing.STATUS).to.equal('ERROR')
    expect(missing.CODE).to.equal('E_NOT_FOUND')
    expect(missing.DETAILS).to.equal("File 'nothing.jpg' does not exist on server")
    expect((await send('LIST', '')).STATUS).to.equal('OK')
  })

  it('refuses a name that is not a single safe file name', async () => {
    const refused = await send('DELETE', '../escape.png')
    expect(refused.STATUS).to.equal('ERROR')
    expect(refused.CODE).to.equal('E_BAD_NAME')
  })

  it('serves a Python client written from the seed: COMMAND DELETE gets OK with the five seed keys', async () => {
    // SOI and a complete JFIF APP0 segment: what the server checks of a JPEG.
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex')
    expect((await send('PUT', 'dog.jpg', jpeg)).STATUS).to.equal('OK')
    const script = `
import pickle, socket, struct, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
p = pickle.dumps({'COMMAND': 'DELETE', 'STATUS': 'REQUEST', 'DETAILS': None, 'FILENAME': 'dog.jpg', 'FILE_DATA': None})
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
    expect(result.stdout.trim()).to.equal("['COMMAND', 'DETAILS', 'FILENAME', 'FILE_DATA', 'STATUS'] OK dog.jpg")
    expect((await send('GET', 'dog.jpg')).CODE).to.equal('E_NOT_FOUND')
  })
})
