// Tokens and scopes on a real server over loopback: the tokens file is a real file, watched; every
// request goes through the TCP front door with a TOKEN key (or none), as iss clients and seed peers send it.
import {expect} from 'chai'
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import pino from 'pino'

import {AccessPolicy} from '../../src/core/access/policy.js'
import type {AnonymousGrant} from '../../src/core/access/scope.js'
import {TokensWatcher} from '../../src/core/access/tokens-watch.js'
import type {Message} from '../../src/core/protocol/message.js'
import type {OutgoingMessage} from '../../src/core/protocol/message-writer.js'
import {createIssServer, type IssServer} from '../../src/core/server-app.js'
import {issue, type IssuedToken, writeTokens} from '../support/access-tokens.js'
import {corePlugin, eventually, loadModule, png, request, roundTrip, testConfig} from './server-harness.js'

/** An iss request (VERSION 1) with a TOKEN key before FILE_DATA when `token` is given. */
function withToken(message: OutgoingMessage, token: string | null): OutgoingMessage {
  return {...message, extra: {VERSION: 1n, ...(token !== null && {TOKEN: token})}}
}

describe('access: tokens and scopes over the wire', function () {
  this.timeout(60_000)
  let dir: string
  let tokensPath: string
  let server: IssServer | null = null
  let watcher: TokensWatcher | null = null
  let port = 0
  let logLines: string[] = []

  async function start(tokens: IssuedToken[], anonymous: AnonymousGrant | 'auto' = 'auto'): Promise<void> {
    await writeTokens(tokensPath, tokens)
    watcher = await TokensWatcher.start(tokensPath)
    server = await createIssServer({
      config: testConfig(join(dir, 'store')),
      plugins: [corePlugin()],
      load: loadModule,
      access: new AccessPolicy({tokens: watcher, anonymous, loopback: true}),
      logger: pino(
        {base: undefined},
        {
          write(line: string) {
            logLines.push(line)
          },
        },
      ),
    })
    port = (await server.listen()).port
  }

  async function ask(message: OutgoingMessage, token: string | null): Promise<Message> {
    return roundTrip(port, withToken(message, token))
  }

  function stored(): string[] {
    const store = join(dir, 'store')
    return existsSync(store) ? readdirSync(store).filter((name) => !name.startsWith('.')) : []
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iss-access-'))
    tokensPath = join(dir, 'conf', 'tokens.json')
    logLines = []
  })

  afterEach(async () => {
    watcher?.close()
    await server?.close()
    server = null
    watcher = null
    rmSync(dir, {recursive: true, force: true})
  })

  it('PUT, GET and LIST work with a token of the right scope, and the log names the token, not the secret', async () => {
    const writer = issue('laptop', 'write')
    await start([writer])
    const put = await ask(request('PUT', 'cat.png', png(2000)), writer.text)
    expect([put.STATUS, put.CODE]).to.deep.equal(['OK', null])
    const get = await ask(request('GET', 'cat.png'), writer.text)
    expect(get.STATUS).to.equal('OK')
    expect(Buffer.compare(get.FILE_DATA as Buffer, png(2000))).to.equal(0)
    const list = await ask(request('LIST'), writer.text)
    expect(list.DETAILS).to.deep.equal(['cat.png'])
    await ask(request('LIST'), null)
    const requests = logLines.map((line) => JSON.parse(line) as {msg: string; token?: unknown})
    expect(requests.filter((line) => line.msg === 'request').map((line) => line.token)).to.deep.equal([
      'laptop',
      'laptop',
      'laptop',
      null,
    ])
    expect(logLines.join('\n')).to.not.include(writer.text.slice(-43))
  })

  it('refuses a wrong, expired, revoked or under-scoped token with E_UNAUTHORIZED or E_FORBIDDEN, storing nothing', async () => {
    const reader = issue('reader', 'read')
    const expired = issue('old', 'admin', -1000)
    const revoked = issue('gone', 'admin')
    const good = issue('good', 'admin')
    await start([reader, expired, revoked, good])
    await writeTokens(tokensPath, [reader, expired, good])
    // The revocation is in force once the watcher has read the new file.
    expect(await eventually(() => watcher!.tokens().length === 3, 2000)).to.equal(true)

    const wrongSecret = good.text.slice(0, -4) + (good.text.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const cases: Array<[string, string, string]> = [
      ['a wrong secret', wrongSecret, 'E_UNAUTHORIZED'],
      ['an unknown id', issue('never', 'admin').text, 'E_UNAUTHORIZED'],
      ['not a token at all', 'hunter2', 'E_UNAUTHORIZED'],
      ['an expired token', expired.text, 'E_UNAUTHORIZED'],
      ['a revoked token', revoked.text, 'E_UNAUTHORIZED'],
      ['a read token for PUT', reader.text, 'E_FORBIDDEN'],
    ]
    for (const [what, token, code] of cases) {
      const answer = await ask(request('PUT', 'cat.png', png(3000)), token)
      expect([answer.STATUS, answer.CODE], what).to.deep.equal(['ERROR', code])
      expect(answer.DETAILS, what).to.be.a('string').and.not.include(token)
    }

    // Unknown, revoked and wrong-secret refusals read the same: nothing tells which token names or ids exist.
    const texts = new Set<unknown>()
    for (const token of [wrongSecret, revoked.text, issue('x', 'read').text])
      texts.add((await ask(request('LIST'), token)).DETAILS)
    expect(texts.size).to.equal(1)
    expect(String([...texts][0])).to.not.match(/good|gone|reader/)
    expect(stored()).to.deep.equal([])
  })

  it('the built-ins need what their declarations name: a read token may GET and LIST but not PUT', async () => {
    const reader = issue('reader', 'read')
    const writer = issue('writer', 'write')
    await start([reader, writer], 'none')
    expect((await ask(request('PUT', 'a.png', png(1500)), writer.text)).STATUS).to.equal('OK')
    expect((await ask(request('GET', 'a.png'), reader.text)).STATUS).to.equal('OK')
    expect((await ask(request('LIST'), reader.text)).DETAILS).to.deep.equal(['a.png'])
    const refused = await ask(request('PUT', 'b.png', png(1500)), reader.text)
    expect(refused.CODE).to.equal('E_FORBIDDEN')
    expect(refused.DETAILS).to.match(/reader.*read.*PUT needs write/)
  })

  describe('anonymous requests (no TOKEN)', () => {
    it('read: GET and LIST work, PUT is E_UNAUTHORIZED naming the key-order rule', async () => {
      await start([issue('someone', 'admin')], 'read')
      const put = await ask(request('PUT', 'a.png', png(1500)), null)
      expect(put.CODE).to.equal('E_UNAUTHORIZED')
      expect(put.DETAILS).to.match(/TOKEN must come before FILE_DATA/)
      expect((await ask(request('LIST'), null)).STATUS).to.equal('OK')
      expect(stored()).to.deep.equal([])
    })

    it('write: PUT works without a token', async () => {
      await start([issue('someone', 'admin')], 'write')
      expect((await ask(request('PUT', 'a.png', png(1500)), null)).STATUS).to.equal('OK')
      expect(stored()).to.deep.equal(['a.png'])
    })

    it('none: even LIST needs a token, and an unknown COMMAND does not list what is served', async () => {
      const reader = issue('reader', 'read')
      await start([reader], 'none')
      expect((await ask(request('LIST'), null)).CODE).to.equal('E_UNAUTHORIZED')
      const unknown = await ask(request('NOPE'), null)
      expect(unknown.CODE).to.equal('E_UNAUTHORIZED')
      expect(unknown.COMMANDS).to.equal(null)
      expect((await ask(request('LIST'), reader.text)).STATUS).to.equal('OK')
    })

    it('default on loopback: admin with no tokens, read once a token exists (re-evaluated on reload)', async () => {
      await start([])
      expect((await ask(request('PUT', 'a.png', png(1500)), null)).STATUS).to.equal('OK')
      await writeTokens(tokensPath, [issue('first', 'admin')])
      expect(await eventually(() => server!.access.anonymous() === 'read', 2000)).to.equal(true)
      expect((await ask(request('PUT', 'b.png', png(1500)), null)).CODE).to.equal('E_UNAUTHORIZED')
      expect((await ask(request('GET', 'a.png'), null)).STATUS).to.equal('OK')
    })
  })

  it('picks up a tokens file changed under the running server: a new token works and a revoked one is refused within 2 s', async () => {
    const old = issue('old', 'write')
    await start([old], 'none')
    expect((await ask(request('LIST'), old.text)).STATUS).to.equal('OK')
    const fresh = issue('fresh', 'write')
    // Replaced atomically, as `iss token create` and `revoke` do.
    await writeTokens(tokensPath, [fresh])
    const changedAt = Date.now()
    const inForce = await eventually(async () => {
      const [withNew, withOld] = await Promise.all([ask(request('LIST'), fresh.text), ask(request('LIST'), old.text)])
      return withNew.STATUS === 'OK' && withOld.CODE === 'E_UNAUTHORIZED'
    }, 2000)
    expect(inForce, `in force after ${Date.now() - changedAt} ms`).to.equal(true)
  })

  it('slows down repeated failures from one address', async () => {
    await start([issue('someone', 'admin')], 'none')
    const bad = issue('nobody', 'admin').text
    const started = Date.now()
    for (let i = 0; i < 4; i++) expect((await ask(request('LIST'), bad)).CODE).to.equal('E_UNAUTHORIZED')
    // 100 + 200 + 400 ms of imposed delay before the 2nd, 3rd and 4th verdicts.
    expect(Date.now() - started).to.be.at.least(700)
  })
})
