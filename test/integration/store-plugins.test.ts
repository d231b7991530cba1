// Store backends and server events come from plugin declarations, like handlers: a made-up URL
// scheme chosen by --storage gets its option; a recording subscriber sees each durable change once;
// a subscriber that throws or hangs changes no answer.
import {expect} from 'chai'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import pino from 'pino'

import type {PluginRecord} from '../../src/core/discovery.js'
import {StartupError} from '../../src/core/registry.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {codeOf} from '../support/error-code.js'
import {corePlugin, eventually, loadModule, png, REPO_ROOT, request, roundTrip, testConfig} from './server-harness.js'

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'plugins')

function fixture(name: string): PluginRecord {
  const root = join(FIXTURES, name)
  return {name, root, pjson: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')), type: 'link'}
}

/** A plain-JS plugin serving DELETE through the injected store, written into `dir`. */
function deletePlugin(dir: string): PluginRecord {
  const root = join(dir, 'iss-plugin-test-delete')
  mkdirSync(root, {recursive: true})
  writeFileSync(
    join(root, 'delete.js'),
    `module.exports = class {
      static inject = [Symbol.for('iss.Store')]
      constructor(store) { this.store = store }
      async handle(request) { const image = await this.store.delete(request.filename); return {filename: image.name} }
    }`,
  )
  const pjson = {name: 'iss-plugin-test-delete', iss: {sdk: '^2.0.0', handlers: {DELETE: './delete.js'}}}
  return {name: pjson.name, root, pjson}
}

interface EventLine {
  event: string
  name: string | null
  visible: boolean | null
  port: number | null
}

describe('store backends and server events from plugin declarations', function () {
  this.timeout(60_000)
  let dir: string
  let server: IssServer | null = null
  let logLines: string[]

  function logger() {
    return pino(
      {level: 'warn'},
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          logLines.push(chunk.toString())
          callback()
        },
      }),
    )
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iss-store-plugins-'))
    logLines = []
  })

  afterEach(async () => {
    await server?.close()
    server = null
    delete process.env.ISS_TEST_EVENTS_LOG
    delete process.env.ISS_TEST_EVENTS_STORE
    rmSync(dir, {recursive: true, force: true})
  })

  describe('a store backend registered by a plugin for a made-up scheme', () => {
    it('is chosen by --storage made-up://x?option=1, receives its option, and serves PUT, LIST and GET', async () => {
      server = await createIssServer({
        config: testConfig('made-up://x?option=1', {storageOptions: {}}),
        plugins: [corePlugin(), fixture('iss-plugin-memory-store')],
        load: loadModule,
      })
      expect(server.store.describe()).to.equal('memory (made-up://x, option=1)')
      const {port} = await server.listen()
      const image = png(3000)
      expect((await roundTrip(port, request('PUT', 'Kept.png', image, true))).STATUS).to.equal('OK')
      expect((await roundTrip(port, request('LIST', null, null, true))).DETAILS).to.deep.equal(['Kept.png'])
      const got = await roundTrip(port, request('GET', 'kept.PNG', null, true))
      expect(Buffer.from(got.FILE_DATA as Uint8Array).equals(image)).to.equal(true)
      expect(existsSync('made-up:')).to.equal(false)
    })

    it('refuses an option the backend does not declare, and a scheme nobody serves, naming what exists', async () => {
      const plugins = [corePlugin(), fixture('iss-plugin-memory-store')]
      const attempt = async (storage: string) =>
        createIssServer({config: testConfig(storage, {storageOptions: {}}), plugins, load: loadModule})
          .then(async (started) => {
            await started.close()
            return null
          })
          .catch((error: unknown) => error)
      const unknownOption = await attempt('made-up://x?optoin=1')
      expect(unknownOption).to.be.instanceOf(StartupError)
      expect((unknownOption as Error).message).to.match(/made-up: store has no option optoin; it takes option/)
      const unknownScheme = await attempt('nope://bucket')
      expect(unknownScheme).to.be.instanceOf(StartupError)
      expect((unknownScheme as Error).message).to.match(
        /no store backend serves nope: URLs; installed: file:, made-up:/,
      )
    })

    it('the file: backend takes its options from the URL', async () => {
      const storage = join(dir, 'store')
      server = await createIssServer({
        config: testConfig(`file://${storage}?minFree=1000000000000000`, {storageOptions: {}}),
        plugins: [corePlugin()],
        load: loadModule,
        logger: logger(),
      })
      expect(server.store.describe()).to.equal(storage)
      expect(await codeOf(server.store.beginUpload('a.png', 1000))).to.equal('E_NO_SPACE')
      expect(logLines).to.deep.equal([])
      await server.close()
      server = await createIssServer({
        config: testConfig(`file://${storage}?fsync=false`, {storageOptions: {minFree: 0}}),
        plugins: [corePlugin()],
        load: loadModule,
        logger: logger(),
      })
      expect(logLines.join('')).to.contain('fsync is off')
      const upload = await server.store.beginUpload('a.png', 1000)
      expect(upload.bytesWritten).to.equal(0)
      await upload.abort()
    })
  })

  describe('server events', () => {
    async function start(extra: PluginRecord[] = []): Promise<{port: number; storage: string; log: string}> {
      const storage = join(dir, 'store')
      const log = join(dir, 'events.jsonl')
      process.env.ISS_TEST_EVENTS_LOG = log
      process.env.ISS_TEST_EVENTS_STORE = storage
      server = await createIssServer({
        config: testConfig(storage),
        plugins: [corePlugin(), fixture('iss-plugin-event-recorder'), deletePlugin(dir), ...extra],
        load: loadModule,
        logger: logger(),
      })
      const {port} = await server.listen()
      return {port, storage, log}
    }

    function events(log: string): EventLine[] {
      if (!existsSync(log)) return []
      return readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as EventLine)
    }

    it('a PUT and a DELETE each produce exactly one event, after the change is durable', async () => {
      const {port, log} = await start()
      expect(events(log)).to.deep.equal([{event: 'server.started', name: null, visible: null, port}])
      expect((await roundTrip(port, request('PUT', 'Cat.png', png(2000), true))).STATUS).to.equal('OK')
      // A refused PUT (duplicate) and a partial one change nothing, so they announce nothing.
      expect((await roundTrip(port, request('PUT', 'cat.PNG', png(2000), true))).CODE).to.equal('E_DUPLICATE')
      expect((await roundTrip(port, request('DELETE', 'CAT.png', null, true))).STATUS).to.equal('OK')
      expect((await roundTrip(port, request('DELETE', 'cat.png', null, true))).CODE).to.equal('E_NOT_FOUND')
      await server!.events.idle()
      expect(events(log).slice(1)).to.deep.equal([
        {event: 'image.published', name: 'Cat.png', visible: true, port: null},
        {event: 'image.deleted', name: 'Cat.png', visible: false, port: null},
      ])
      await server!.close()
      expect(events(log).at(-1)).to.deep.equal({event: 'server.stopping', name: null, visible: null, port: null})
    })

    it('a subscriber that throws, or never settles, does not change the answer and is logged', async () => {
      const {port, log} = await start()
      const thrown = await roundTrip(port, request('PUT', 'throw.png', png(1000), true))
      expect(thrown.STATUS).to.equal('OK')
      expect(thrown.DETAILS).to.match(/stored on server/)
      const hung = await roundTrip(port, request('PUT', 'hang.png', png(1000), true))
      expect(hung.STATUS).to.equal('OK')
      expect((await roundTrip(port, request('LIST', null, null, true))).DETAILS).to.deep.equal([
        'hang.png',
        'throw.png',
      ])
      expect(events(log).filter((line) => line.event === 'image.published')).to.have.length(2)
      expect(await eventually(() => logLines.some((line) => line.includes('event subscriber failed')))).to.equal(true)
      expect(logLines.join('')).to.contain('a subscriber that throws')
      // The hung one is given up after the subscriber timeout (5 s), logged, and does not block shutdown forever.
      await server!.close()
      server = null
      expect(logLines.join('')).to.contain('event subscriber did not finish in time')
    })
  })
})
