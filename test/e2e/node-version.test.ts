import {expect} from 'chai'
import {execFileSync, spawnSync} from 'node:child_process'

import {BIN, cliEnv} from './cli-harness.js'

/** A Node older than 22 on this machine (the system one, when it is), or undefined. */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const version = execFileSync(candidate, ['-p', 'process.versions.node'], {encoding: 'utf8'}).trim()
      if (Number(version.split('.', 1)[0]) < 22) return candidate
    } catch {
      // not installed there
    }
  }

  return undefined
}

describe('iss on a Node older than 22', () => {
  it('says so in one line and exits 2', function () {
    const node = oldNode()
    if (node === undefined) this.skip()
    const result = spawnSync(node, [BIN, 'list'], {encoding: 'utf8', env: cliEnv(), timeout: 20_000})
    expect(result.status).to.equal(2)
    expect(result.stdout).to.equal('')
    expect(result.stderr).to.match(/^iss needs Node\.js 22 or newer; this is Node\.js \d+\.\d+\.\d+\. .+\n$/)
  })
})
