// Each handler declaration names the scope its COMMAND needs: a plugin that names none needs admin;
// iss-plugin-delete names delete. Checked through discovery and over the wire with real tokens.
import {expect} from 'chai'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {AccessPolicy} from '../../src/core/access/policy.js'
import {fixedTokens} from '../../src/core/access/tokens-watch.js'
import {discoverHandlers, type PluginRecord} from '../../src/core/discovery.js'
import {StartupError} from '../../src/core/registry.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {issue} from '../support/access-tokens.js'
import {corePlugin, loadModule, png, REPO_ROOT, request, roundTrip, testConfig} from './server-harness.js'

const ECHO = `module.exports = class Echo {
  async handle(request) { return {details: 'echo ' + request.command} }
}`

/** A plain-JS plugin whose handlers are declared as given (a path, or {module, scope}). */
function plugin(root: string, name: string, handlers: Record<string, unknown>): PluginRecord {
  const dir = join(root, name)
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'echo.js'), ECHO)
  const pjson = {name, iss: {sdk: '^2.0.0', handlers}}
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pjson))
  return {name, root: dir, pjson}
}

function deletePlugin(): PluginRecord {
  const root = join(REPO_ROOT, 'plugins', 'iss-plugin-delete')
  return {name: 'iss-plugin-delete', root, pjson: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))}
}

describe('access: the scope each handler declaration names', function () {
  this.timeout(60_000)
  let root: string
  let server: IssServer | null = null

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'iss-access-plugins-'))
  })

  afterEach(async () => {
    await server?.close()
    server = null
    rmSync(root, {recursive: true, force: true})
  })

  it('reads a bare module path as admin and {module, scope} as that scope; the built-ins and DELETE declare theirs', () => {
    const bare = plugin(root, 'iss-plugin-bare', {ECHO: './echo.js'})
    const scoped = plugin(root, 'iss-plugin-scoped', {PING: {module: './echo.js', scope: 'read'}})
    const {registry} = discoverHandlers([corePlugin(), bare, scoped, deletePlugin()], loadModule)
    const scopes = Object.fromEntries(registry.declarations().map((d) => [d.command, d.scope]))
    expect(scopes).to.deep.equal({
      DELETE: 'delete',
      ECHO: 'admin',
      GET: 'read',
      LIST: 'read',
      PING: 'read',
      PUT: 'write',
    })
  })

  it('refuses a declaration naming a scope that does not exist, at start', () => {
    const bad = plugin(root, 'iss-plugin-bad', {ECHO: {module: './echo.js', scope: 'root'}})
    expect(() => discoverHandlers([bad], loadModule))
      .to.throw(StartupError, /"scope": "read" \| "write" \| "delete" \| "admin"/)
      .with.property('code', 'ISS_BAD_HANDLER')
  })

  it('a plugin COMMAND without a declared scope needs admin; DELETE needs delete', async () => {
    const tokens = {
      write: issue('w', 'write'),
      delete: issue('d', 'delete'),
      admin: issue('a', 'admin'),
    }
    server = await createIssServer({
      config: testConfig(join(root, 'store')),
      plugins: [corePlugin(), plugin(root, 'iss-plugin-bare', {ECHO: './echo.js'}), deletePlugin()],
      load: loadModule,
      access: new AccessPolicy({tokens: fixedTokens(Object.values(tokens).map((t) => t.entry)), anonymous: 'none'}),
    })
    const {port} = await server.listen()
    const ask = async (command: string, filename: string | null, token: string) =>
      roundTrip(port, {...request(command, filename), extra: {VERSION: 1n, TOKEN: token}})

    const put = await roundTrip(port, {
      ...request('PUT', 'a.png', png(1200)),
      extra: {VERSION: 1n, TOKEN: tokens.write.text},
    })
    expect(put.STATUS).to.equal('OK')

    expect((await ask('ECHO', null, tokens.delete.text)).CODE).to.equal('E_FORBIDDEN')
    const echoed = await ask('ECHO', null, tokens.admin.text)
    expect([echoed.STATUS, echoed.DETAILS]).to.deep.equal(['OK', 'echo ECHO'])

    const refused = await ask('DELETE', 'a.png', tokens.write.text)
    expect(refused.CODE).to.equal('E_FORBIDDEN')
    expect(refused.DETAILS).to.match(/DELETE needs delete/)
    expect((await ask('DELETE', 'a.png', tokens.delete.text)).STATUS).to.equal('OK')
  })
})
