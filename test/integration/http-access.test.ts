// The gallery under access control: the server's own AccessPolicy judges HTTP reads with the bearer
// token, and HTTP writes go through the protocol's request path, where the head's TOKEN is judged
// by the scope the handler declares. Cookies never authorise anything.
import {expect} from 'chai'

import {AccessPolicy} from '../../src/core/access/policy.js'
import type {Scope} from '../../src/core/access/scope.js'
import {newToken} from '../../src/core/access/token-secret.js'
import {fixedTokens} from '../../src/core/access/tokens-watch.js'
import {corePlugin} from './server-harness.js'
import {deletePlugin, realPng, type RunningGallery, startGallery} from './http-harness.js'

function token(name: string, scope: Scope) {
  const made = newToken()
  return {
    text: made.text,
    entry: {name, id: made.id, sha256: made.hash, scope, created: new Date().toISOString(), expires: null},
  }
}

describe('gallery access control', () => {
  const reader = token('reader', 'read')
  const writer = token('writer', 'write')
  const deleter = token('deleter', 'delete')
  let running: RunningGallery

  async function start(anonymous: 'none' | 'read') {
    running = await startGallery({
      plugins: [corePlugin(), deletePlugin()],
      access: new AccessPolicy({tokens: fixedTokens([reader.entry, writer.entry, deleter.entry]), anonymous}),
    })
  }

  afterEach(async () => {
    await running.stop()
  })

  const bearer = (text: string) => ({Authorization: `Bearer ${text}`})
  const put = async (name: string, headers: Record<string, string> = {}) =>
    fetch(`${running.base}/images/${name}`, {method: 'PUT', body: await realPng(), headers})

  it('refuses a PUT without a token (401, WWW-Authenticate) or with a read token (403), storing nothing', async () => {
    await start('read')
    const anonymous = await put('a.png')
    expect(anonymous.status).to.equal(401)
    expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer/)
    expect(((await anonymous.json()) as {code: string}).code).to.equal('E_UNAUTHORIZED')

    const readOnly = await put('a.png', bearer(reader.text))
    expect(readOnly.status).to.equal(403)
    expect(((await readOnly.json()) as {code: string}).code).to.equal('E_FORBIDDEN')

    const cookie = await put('a.png', {Cookie: `token=${writer.text}`})
    expect(cookie.status).to.equal(401)
    expect(await running.server.server.store.list()).to.have.length(0)

    expect((await put('a.png', bearer(writer.text))).status).to.equal(201)
    expect((await running.server.server.store.list()).map((image) => image.name)).to.deep.equal(['a.png'])
  })

  it('lets only a delete token DELETE', async () => {
    await start('read')
    await put('d.png', bearer(writer.text))
    const byWriter = await fetch(`${running.base}/images/d.png`, {method: 'DELETE', headers: bearer(writer.text)})
    expect(byWriter.status).to.equal(403)
    const byDeleter = await fetch(`${running.base}/images/d.png`, {method: 'DELETE', headers: bearer(deleter.text)})
    expect(byDeleter.status).to.equal(200)
    expect(await running.server.server.store.list()).to.have.length(0)
  })

  it('serves nothing to a reader without a token when anonymous read is off, and everything with one', async () => {
    await start('none')
    await put('r.png', bearer(writer.text))
    for (const path of ['/images/r.png', '/thumbs/r.png', '/api/images', '/api/events']) {
      const refused = await fetch(`${running.base}${path}`)
      expect(refused.status, path).to.equal(401)
    }

    expect(
      (await fetch(`${running.base}/images/r.png`, {headers: bearer('iss_0000000000000000_' + 'x'.repeat(43))})).status,
    ).to.equal(401)
    const allowed = await fetch(`${running.base}/images/r.png`, {headers: bearer(reader.text)})
    expect(allowed.status).to.equal(200)
    const session = (await (
      await fetch(`${running.base}/api/session`, {headers: bearer(reader.text)})
    ).json()) as Record<string, unknown>
    expect(session).to.include({read: true, write: false, delete: false})
    const anonymousSession = (await (await fetch(`${running.base}/api/session`)).json()) as Record<string, unknown>
    expect(anonymousSession).to.include({read: false, write: false})
  })
})
