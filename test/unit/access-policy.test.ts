// The access policy without a server: token text, the tokens file on disk, the anonymous grant, and the
// failure throttle's delays and memory bound.
import {expect} from 'chai'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseDuration} from '../../src/core/access/duration.js'
import {FailureThrottle, peerAddress} from '../../src/core/access/failure-throttle.js'
import {AccessPolicy} from '../../src/core/access/policy.js'
import {covers} from '../../src/core/access/scope.js'
import {newToken, parseToken, secretMatches} from '../../src/core/access/token-secret.js'
import {readTokensFile, TokensFileError, updateTokensFile} from '../../src/core/access/tokens-file.js'
import {fixedTokens} from '../../src/core/access/tokens-watch.js'
import {codeOf} from '../support/error-code.js'
import {issue} from '../support/access-tokens.js'

describe('access policy parts', () => {
  let dir: string

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'iss-access-unit-'))
  })

  afterEach(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  it('makes tokens iss_<id>_<secret> with 32 random bytes of secret, and checks them by hash', () => {
    const a = newToken()
    const b = newToken()
    const parts = parseToken(a.text)!
    expect(Buffer.from(parts.secret, 'base64url')).to.have.length(32)
    expect(a.text).to.not.equal(b.text)
    expect(secretMatches(parts.secret, a.hash)).to.equal(true)
    expect(secretMatches(parts.secret, b.hash)).to.equal(false)
    expect(a.hash).to.not.include(parts.secret)
    expect(parseToken(a.text + 'x')).to.equal(null)
    expect(parseToken('iss_zz_secret')).to.equal(null)
  })

  it('nests scopes: admin > delete > write > read, and none covers nothing', () => {
    expect(covers('admin', 'delete')).to.equal(true)
    expect(covers('delete', 'write')).to.equal(true)
    expect(covers('write', 'delete')).to.equal(false)
    expect(covers('read', 'write')).to.equal(false)
    expect(covers('none', 'read')).to.equal(false)
  })

  it('anonymous by default: admin on loopback without tokens, read with tokens, none off loopback without tokens', () => {
    expect(new AccessPolicy({loopback: true}).anonymous()).to.equal('admin')
    expect(new AccessPolicy({loopback: true, tokens: fixedTokens([issue('a', 'read').entry])}).anonymous()).to.equal(
      'read',
    )
    expect(new AccessPolicy({loopback: false}).anonymous()).to.equal('none')
    expect(new AccessPolicy({loopback: true, anonymous: 'write'}).anonymous()).to.equal('write')
  })

  it('judges a token against the scope needed and names no token in an unknown-token refusal', async () => {
    const writer = issue('writer', 'write')
    const policy = new AccessPolicy({tokens: fixedTokens([writer.entry]), anonymous: 'none'})
    expect(await policy.judge(writer.text, 'write', '127.0.0.1:1')).to.deep.equal({tokenName: 'writer', scope: 'write'})
    expect(await codeOf(policy.judge(writer.text, 'delete', '127.0.0.1:1'))).to.equal('E_FORBIDDEN')
    expect(await codeOf(policy.judge(null, 'read', '127.0.0.1:1'))).to.equal('E_UNAUTHORIZED')
    const refusal = await policy
      .judge(issue('other', 'admin').text, 'read', '10.0.0.9:1')
      .catch((error: unknown) => error)
    expect((refusal as Error).message).to.not.include('writer')
    expect(policy.lastUsed().has(writer.entry.id)).to.equal(true)
  })

  it('writes the tokens file atomically, owner-only, and refuses a malformed one with a line naming it', async () => {
    const path = join(dir, 'sub', 'tokens.json')
    const token = issue('a', 'read')
    await updateTokensFile(path, (file) => ({file: {version: 1, tokens: [...file.tokens, token.entry]}, result: null}))
    expect(statSync(path).mode & 0o777).to.equal(0o600)
    expect(statSync(join(dir, 'sub')).mode & 0o777).to.equal(0o700)
    expect(readdirSync(join(dir, 'sub'))).to.deep.equal(['tokens.json'])
    expect((await readTokensFile(path)).tokens).to.deep.equal([token.entry])
    expect(readFileSync(path, 'utf8')).to.not.include(token.text.slice(-43))

    writeFileSync(path, '{"version": 1, "tokens": [{"name": "x"}]}')
    const error = await readTokensFile(path).catch((error_: unknown) => error_)
    expect(error).to.be.instanceOf(TokensFileError)
    expect((error as Error).message).to.include(path)
    expect((await readTokensFile(join(dir, 'absent.json'))).tokens).to.deep.equal([])
  })

  it('throttles failures per address with doubling delays, and keeps at most maxPeers addresses', () => {
    let now = 0
    const throttle = new FailureThrottle({baseDelayMs: 100, maxDelayMs: 1000, maxPeers: 3, now: () => now})
    expect(throttle.reserve('a')).to.equal(0)
    throttle.failed('a')
    expect(throttle.reserve('a')).to.equal(100)
    throttle.failed('a')
    throttle.failed('a')
    now = 10_000
    expect(throttle.reserve('a')).to.equal(0)
    // Back-to-back attempts queue one delay apart.
    expect(throttle.reserve('a')).to.equal(400)
    for (const peer of ['b', 'c', 'd', 'e']) throttle.failed(peer)
    expect(throttle.size).to.equal(3)
    expect(throttle.reserve('a')).to.equal(0)
    throttle.failed('b')
    throttle.succeeded('b')
    expect(throttle.reserve('b')).to.equal(0)
    expect(peerAddress('[::1]:9595')).to.equal('::1')
    expect(peerAddress('10.1.2.3:40000')).to.equal('10.1.2.3')
  })

  it('reads lifetimes like 30d, 12h and 2w, and refuses others', () => {
    expect(parseDuration('30d')).to.equal(30 * 86_400_000)
    expect(parseDuration('12h')).to.equal(12 * 3_600_000)
    expect(parseDuration('2w')).to.equal(14 * 86_400_000)
    for (const bad of ['0d', '30', 'd', '1y', '-1d', '99999w']) expect(parseDuration(bad), bad).to.equal(null)
  })
})
