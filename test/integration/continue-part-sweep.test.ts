import {expect} from 'chai'
import {mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CONTINUE_KEEP_MS, sweepStaleParts} from '../../src/core/download-target.js'

describe('get --continue part files and the part-file sweep', () => {
  let directory: string

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'iss-continue-sweep-'))
  })

  afterEach(() => {
    rmSync(directory, {recursive: true, force: true})
  })

  it('keeps a resumable part and its sidecar for a week, then removes them', async () => {
    const names = ['.young.png.iss-continue.part', '.young.png.iss-continue.json']
    const old = ['.old.png.iss-continue.part', '.old.png.iss-continue.json']
    for (const name of [...names, ...old]) writeFileSync(join(directory, name), 'x')
    const eightDaysAgo = (Date.now() - CONTINUE_KEEP_MS - 24 * 60 * 60 * 1000) / 1000
    for (const name of old) utimesSync(join(directory, name), eightDaysAgo, eightDaysAgo)
    // Two days old: older than the hour after which ordinary part files go, younger than a week.
    const twoDaysAgo = (Date.now() - 2 * 24 * 60 * 60 * 1000) / 1000
    for (const name of names) utimesSync(join(directory, name), twoDaysAgo, twoDaysAgo)

    const removed = await sweepStaleParts(directory)
    expect(removed.toSorted()).to.deep.equal(old.toSorted())
    expect(readdirSync(directory).toSorted()).to.deep.equal(names.toSorted())
  })
})
