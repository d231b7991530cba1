import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import path from 'node:path'

import {removeDir, runCli, tempDir} from './cli-harness.js'

/** What bash proposes for `words`, the last being the word under the cursor, with the generated function. */
function bashCompletes(functions: string, words: string[]): string[] {
  const script = [
    `source ${JSON.stringify(functions)}`,
    `COMP_WORDS=(${words.map((word) => JSON.stringify(word)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_iss_autocomplete',
    // eslint-disable-next-line no-template-curly-in-string -- bash's array expansion, not a template
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n')
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script], {encoding: 'utf8', timeout: 10_000})
  expect(result.status, result.stderr).to.equal(0)
  return result.stdout.split('\n').filter((line) => line !== '')
}

// @oclif/plugin-autocomplete, as package.json's oclif.plugins loads it: scripts for bash, zsh and PowerShell.
describe('iss autocomplete: shell completion', function () {
  this.timeout(60_000)
  let cache: string

  before(() => {
    cache = tempDir('completion')
  })

  after(() => {
    removeDir(cache)
  })

  it('generates a bash completion that completes commands and flags, including iss config', async () => {
    const script = await runCli(['autocomplete', 'script', 'bash'], {env: {ISS_CACHE_DIR: cache}})
    expect(script.code, script.stderr).to.equal(0)
    const setup = path.join(cache, 'autocomplete', 'bash_setup')
    expect(script.stdout).to.include(`ISS_AC_BASH_SETUP_PATH=${setup}`)
    // `iss autocomplete bash` (the user's step) writes the completion functions into the cache.
    const refresh = await runCli(['autocomplete', 'bash'], {env: {ISS_CACHE_DIR: cache}})
    expect(refresh.code, refresh.stderr).to.equal(0)
    const functions = path.join(cache, 'autocomplete', 'functions', 'bash', 'iss.bash')
    expect(existsSync(functions)).to.equal(true)
    expect(bashCompletes(functions, ['iss', 'pu'])).to.deep.equal(['put'])
    expect(bashCompletes(functions, ['iss', 'put', '--pro'])).to.deep.equal(['--profile'])
    expect(bashCompletes(functions, ['iss', 'config', 's'])).to.deep.equal(['set'])
  })

  it('generates zsh and PowerShell set-up lines', async () => {
    for (const [shell, needle] of [
      ['zsh', 'ISS_AC_ZSH_SETUP_PATH'],
      ['powershell', 'iss.ps1'],
    ] as const) {
      const script = await runCli(['autocomplete', 'script', shell], {env: {ISS_CACHE_DIR: cache}})
      expect(script.code, script.stderr).to.equal(0)
      expect(script.stdout, shell).to.include(needle)
    }
  })
})
