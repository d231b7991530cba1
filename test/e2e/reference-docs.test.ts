import {expect} from 'chai'
import {spawn} from 'node:child_process'
import path from 'node:path'

import {collect, ROOT} from './cli-harness.js'

// `npm run docs` builds the SDK reference from the docstrings of src/index.ts and src/testing.ts
// (typedoc.json: warnings are errors; every exported class, interface and type documented; no link to
// something the reference leaves out). This checks it without writing the pages.
describe('the SDK reference (npm run docs)', function () {
  this.timeout(240_000)

  it('builds from the docstrings without a single warning', async () => {
    const typedoc = path.join(ROOT, 'node_modules', 'typedoc', 'bin', 'typedoc')
    const child = spawn(process.execPath, [typedoc, '--emit', 'none', '--logLevel', 'Warn'], {
      cwd: ROOT,
      env: {...process.env, NO_COLOR: '1', FORCE_COLOR: '0'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const result = await collect(child, 200_000)
    expect(`${result.stdout}${result.stderr}`.trim()).to.equal('')
    expect(result.code).to.equal(0)
  })
})
