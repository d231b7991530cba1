'use strict'
// Section 4: what starting the CLI costs: `iss --version` and `iss list` (against a running server
// with a few images) next to `node -e 0`, interleaved run by run so that noise hits all alike.
const fs = require('node:fs')
const path = require('node:path')
const {median, quantileSorted} = require('../lib/stats.js')
const {seedStore} = require('../lib/files.js')
const {freePort, runTimed} = require('../lib/procs.js')
const {ROOT, issMissing, packagedBin, runIss, startIss} = require('../lib/iss.js')

async function runCli(ctx) {
  const runs = ctx.opts.cliRuns
  const missing = issMissing()
  if (missing) return {skipped: missing}
  const store = path.join(ctx.tmp, 'cli-store')
  fs.rmSync(store, {recursive: true, force: true})
  await seedStore(store, 3)
  const port = await freePort()
  const server = await startIss({storage: store, port, logDir: ctx.tmp})
  const commands = [
    {id: 'node', label: 'node -e 0', run: () => runTimed(process.execPath, ['-e', '0'], {measureRss: false})},
    {
      // The floor of any oclif CLI: loading @oclif/core alone, with the same compile cache as bin/run.js.
      id: 'oclif',
      label: "node + require('@oclif/core')",
      run: () =>
        runTimed(process.execPath, ['-e', "require('node:module').enableCompileCache?.(); require('@oclif/core')"], {
          measureRss: false,
          cwd: ROOT,
        }),
    },
    {id: 'version', label: 'iss --version', run: () => runIss(['--version'], {measureRss: false})},
    {
      id: 'list',
      label: 'iss list (3 images)',
      run: () => runIss(['list', '--port', String(port)], {measureRss: false}),
    },
  ]
  const packaged = await packagedBin(path.join(ctx.tmp, 'packaged'))
  if (packaged.bin) {
    commands.push(
      {
        id: 'version-manifest',
        label: 'iss --version, as packed (oclif manifest)',
        run: () => runIss(['--version'], {measureRss: false, bin: packaged.bin}),
      },
      {
        id: 'list-manifest',
        label: 'iss list, as packed (oclif manifest)',
        run: () => runIss(['list', '--port', String(port)], {measureRss: false, bin: packaged.bin}),
      },
    )
  } else {
    ctx.log(`cli: no packed variant: ${packaged.reason}`)
  }
  const times = Object.fromEntries(commands.map((c) => [c.id, []]))
  try {
    // One unmeasured round fills the disk cache and Node's compile cache, as any second use would.
    for (const command of commands) {
      const result = await command.run()
      if (result.code !== 0) throw new Error(`${command.label} exited ${result.code}: ${result.stderr.slice(-500)}`)
    }
    for (let i = 0; i < runs && !ctx.expired(); i++) {
      for (const command of commands) times[command.id].push((await command.run()).ms)
    }
  } finally {
    await server.stop()
    fs.rmSync(store, {recursive: true, force: true})
  }
  const rows = commands.map((command) => {
    const sorted = [...times[command.id]].sort((a, b) => a - b)
    return {
      id: command.id,
      label: command.label,
      runs: sorted.length,
      medianMs: median(sorted),
      p90Ms: quantileSorted(sorted, 0.9),
      minMs: sorted[0] ?? null,
      samples: times[command.id],
    }
  })
  const node = rows[0].medianMs
  for (const row of rows) row.overNodeMs = row.medianMs !== null && node !== null ? row.medianMs - node : null
  return {rows, packaged: packaged.bin ? 'measured' : packaged.reason}
}

module.exports = {runCli}
