import {expect} from 'chai'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {createServerContainer, resolveHandler} from '../../src/core/container.js'
import {discoverHandlers, type PluginRecord} from '../../src/core/discovery.js'
import {Dispatcher, errorReply} from '../../src/core/dispatch.js'
import {silentLogger} from '../../src/core/logger.js'
import {errors} from '../../src/core/errors.js'
import type {Message} from '../../src/core/protocol/message.js'
import {StartupError} from '../../src/core/registry.js'
import {SDK_VERSION} from '../../src/core/sdk-range.js'
import type {ImageStore} from '../../src/core/store/store.js'
import {Tokens} from '../../src/core/tokens.js'
import type {ServerConfig} from '../../src/core/config.js'

/** A plain-JS plugin in a temporary folder, as a third party would write it without any compiler. */
function writePlugin(root: string, name: string, handlers: Record<string, string>, sdk = '^2.0.0'): PluginRecord {
  const dir = join(root, name)
  mkdirSync(dir, {recursive: true})
  const declared: Record<string, string> = {}
  for (const [command, body] of Object.entries(handlers)) {
    writeFileSync(join(dir, `${command.toLowerCase()}.js`), body)
    declared[command] = `./${command.toLowerCase()}.js`
  }

  const pjson = {name, iss: {sdk, handlers: declared}}
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pjson))
  return {name, root: dir, pjson}
}

const ECHO = `module.exports = class Echo {
  static inject = [Symbol.for('iss.Store'), Symbol.for('iss.Config')]
  constructor(store, config) { this.store = store; this.config = config }
  async handle(request) { return {details: [this.store.describe(), String(this.config.port), request.command], extra: {X: 'y'}} }
}`

function message(fields: Partial<Message>): Message {
  return {
    COMMAND: null,
    STATUS: 'REQUEST',
    DETAILS: null,
    FILENAME: null,
    FILE_DATA: null,
    VERSION: null,
    CODE: null,
    COMMANDS: null,
    extra: new Map(),
    ...fields,
  }
}

describe('handler discovery, container and dispatch', () => {
  let root: string

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'iss-discovery-'))
  })

  afterEach(() => {
    rmSync(root, {recursive: true, force: true})
  })

  it('registers plain-JS handlers from a declaration and builds them with their injected tokens', async () => {
    const plugin = writePlugin(root, 'iss-plugin-echo', {ECHO})
    const {registry, refused} = discoverHandlers([{name: 'no-iss', root, pjson: {}}, plugin])
    expect(refused).to.deep.equal([])
    expect(registry.commands()).to.deep.equal(['ECHO'])
    expect(registry.get('ECHO')!.plugin).to.equal('iss-plugin-echo')
    const describedStore: Pick<ImageStore, 'describe'> = {describe: () => 'store-here'}
    const store = describedStore as ImageStore
    const portOnly: Pick<ServerConfig, 'port'> = {port: 1234}
    const container = createServerContainer({
      store,
      logger: silentLogger(),
      config: portOnly as ServerConfig,
      registry,
    })
    expect(container.resolve(Tokens.Store)).to.equal(store)
    const dispatcher = new Dispatcher(registry, (c) => resolveHandler(container, c))
    const signal = new AbortController().signal
    const reply = await dispatcher.dispatch({
      message: message({COMMAND: 'ECHO', VERSION: 1}),
      upload: null,
      peer: 'p',
      signal,
    })
    expect(reply.message).to.deep.equal({
      COMMAND: 'ECHO',
      STATUS: 'OK',
      DETAILS: ['store-here', '1234', 'ECHO'],
      FILENAME: null,
      extra: {X: 'y'},
    })
    const seed = await dispatcher.dispatch({message: message({COMMAND: 'ECHO'}), upload: null, peer: 'p', signal})
    expect(Object.keys(seed.message)).to.deep.equal(['COMMAND', 'STATUS', 'DETAILS', 'FILENAME'])
  })

  it('fails start-up naming both plugins when two claim one COMMAND', () => {
    const a = writePlugin(root, 'plugin-a', {ECHO})
    const b = writePlugin(root, 'plugin-b', {ECHO})
    expect(() => discoverHandlers([a, b]))
      .to.throw(StartupError)
      .with.property('message')
      .that.matches(/ECHO.*'plugin-a'.*'plugin-b'/)
  })

  it('refuses a plugin whose SDK range excludes this host with a line naming both versions', () => {
    const old = writePlugin(root, 'plugin-old', {ECHO}, '^1.0.0')
    const {registry, refused} = discoverHandlers([old])
    expect(registry.commands()).to.deep.equal([])
    expect(refused).to.have.length(1)
    expect(refused[0]).to.match(new RegExp(`plugin-old.*SDK \\^1\\.0\\.0.*SDK ${SDK_VERSION.replaceAll('.', '\\.')}`))
    expect(refused[0]).to.contain('iss plugins uninstall plugin-old')
  })

  it('skips a plugin whose handler file is missing with one line naming it and its removal, and serves the rest', () => {
    const good = writePlugin(root, 'plugin-good', {ECHO})
    const broken = writePlugin(root, 'plugin-broken', {ECHO2: ECHO})
    rmSync(join(broken.root, 'echo2.js'))
    const {registry, refused} = discoverHandlers([broken, good])
    expect(registry.commands()).to.deep.equal(['ECHO'])
    expect(refused).to.have.length(1)
    expect(refused[0]).to.match(/^skipped: Plugin 'plugin-broken': cannot load the ECHO2 handler/)
    expect(refused[0]).to.contain('iss plugins uninstall plugin-broken')
    expect(refused[0]).to.not.contain('\n')
  })

  it('refuses a module that exports no handler class, and a handler injecting an unknown token', () => {
    const bad = writePlugin(root, 'plugin-bad', {ECHO: 'module.exports = {notAClass: true}'})
    expect(() => discoverHandlers([bad])).to.throw(/must default-export a handler class/)
    const greedy = writePlugin(root, 'plugin-greedy', {
      ECHO: `exports.default = class { static inject = [Symbol.for('iss.Nope')]; async handle() { return {} } }`,
    })
    const {registry} = discoverHandlers([greedy])
    const emptyStore: object = {}
    const emptyConfig: object = {}
    expect(() =>
      createServerContainer({
        store: emptyStore as ImageStore,
        logger: silentLogger(),
        config: emptyConfig as ServerConfig,
        registry,
      }),
    ).to.throw(/injects Symbol\(iss\.Nope\)/)
  })

  it('the core package declares PUT, GET and LIST like any plugin', () => {
    // From dist/test/unit or test/unit alike: the first package.json above is the core's.
    let dir = __dirname
    while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
    const pjson = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    expect(pjson.iss.sdk).to.equal('^2.0.0')
    expect(Object.keys(pjson.iss.handlers).sort()).to.deep.equal(['GET', 'LIST', 'PUT'])
  })

  it('dispatch answers unknown commands with COMMANDS, bad STATUS, and seed requests with the five keys', async () => {
    const plugin = writePlugin(root, 'iss-plugin-echo', {ECHO})
    const {registry} = discoverHandlers([plugin])
    const dispatcher = new Dispatcher(registry, () => undefined)
    const signal = new AbortController().signal
    const unknown = await dispatcher.dispatch({
      message: message({COMMAND: 'NOPE', VERSION: 1, FILENAME: 'a.png'}),
      upload: null,
      peer: 'p',
      signal,
    })
    expect(unknown.message).to.deep.equal({
      COMMAND: 'NOPE',
      STATUS: 'ERROR',
      DETAILS: "Unknown command 'NOPE'; this server serves ECHO",
      FILENAME: 'a.png',
      extra: {CODE: 'E_UNKNOWN_COMMAND', COMMANDS: ['ECHO']},
    })
    const seed = await dispatcher.dispatch({message: message({COMMAND: 'NOPE'}), upload: null, peer: 'p', signal})
    expect(seed.message).to.not.have.property('extra')
    expect(seed.code).to.equal('E_UNKNOWN_COMMAND')
    const status = await dispatcher.dispatch({
      message: message({COMMAND: 'ECHO', STATUS: 'OK'}),
      upload: null,
      peer: 'p',
      signal,
    })
    expect(status.code).to.equal('E_BAD_STATUS')
    expect(status.message.DETAILS).to.equal(`A request must have STATUS 'REQUEST', not "OK"`)
  })

  it('maps foreign IssErrors by code, ENOSPC to E_NO_SPACE and anything else to E_INTERNAL', () => {
    const foreign = Object.assign(new Error('gone'), {code: 'E_NOT_FOUND'})
    const request = {command: 'GET', filename: 'x.png', versioned: true}
    expect(errorReply(foreign, request).message.extra).to.deep.equal({CODE: 'E_NOT_FOUND'})
    expect(errorReply(Object.assign(new Error('full'), {code: 'ENOSPC'}), request).code).to.equal('E_NO_SPACE')
    const internal = errorReply(new TypeError('bug'), request)
    expect(internal.code).to.equal('E_INTERNAL')
    expect(internal.message.DETAILS).to.not.match(/bug/)
    expect(errorReply(errors.busy(), request).fatal).to.equal(true)
  })
})
