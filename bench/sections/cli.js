'use strict'
// Section 4: what starting the CLI costs: `iss --version`, `iss list` and `iss put` of one small file
// (against a running server with a few images) next to `node -e 0` and to loading @oclif/core alone,
// interleaved run by run so that noise hits all alike. Run alone with `--sections cli`.
const fs = require('node:fs')
const path = require('node:path')
const {median, quantileSorted} = require('../lib/stats.js')
const {seedStore, tinyPng} = require('../lib/files.js')
const {freePort, runTimed} = require('../lib/procs.js')
const {ROOT, issMissing, runIss, startIss} = require('../lib/iss.js')

async function runCli(ctx) {
  const runs = ctx.opts.cliRuns
  const missing = issMissing()
  if (missing) return {skipped: missing}
  const store = path.join(ctx.tmp, 'cli-store')
  const uploads = path.join(ctx.tmp, 'cli-put')
  fs.rmSync(store, {recursive: true, force: true})
  await seedStore(store, 3)
  // One new name per `iss put` (a stored name would be refused as a duplicate): the warm-up and every run.
  fs.mkdirSync(uploads, {recursive: true})
  const png = tinyPng()
  const files = Array.from({length: runs + 1}, (_, i) => {
    const file = path.join(uploads, `put-${String(i).padStart(4, '0')}.png`)
    fs.writeFileSync(file, png)
    return file
  })
  const port = await freePort()
  const server = await startIss({storage: store, port, logDir: ctx.tmp})
  let putIndex = 0
  const commands = [
    {id: 'node', label: 'node -e 0', run: () => runTimed(process.execPath, ['-e', '0'], {measureRss: false})},
    {
      // The floor of any oclif CLI: loading @oclif/core alone, with a compile cache as bin/run.js has one.
      id: 'oclif',
      label: "node + require('@oclif/core')",
      run: () =>
        runTimed(
          process.execPath,
          [
            '-e',
            "require('node:module').enableCompileCache(require('node:path').join(process.argv[1], 'compile-cache')); require('@oclif/core')",
            ctx.tmp,
          ],
          {measureRss: false, cwd: ROOT, env: {OCLIF_DISABLE_ENGINE_WARNING: 'true'}},
        ),
    },
    {id: 'version', label: 'iss --version', run: () => runIss(['--version'], {measureRss: false})},
    {
      id: 'list',
      label: 'iss list (3 images)',
      run: () => runIss(['list', '--port', String(port)], {measureRss: false}),
    },
    {
      id: 'put',
      label: `iss put (one ${png.length}-byte PNG)`,
      run: () => runIss(['put', '--port', String(port), files[putIndex++]], {measureRss: false}),
    },
  ]
  const times = Object.fromEntries(commands.map((c) => [c.id, []]))
  try {
    // One unmeasured round fills the disk cache and Node's compile cache, as any second use would.
    for (const command of commands) {
      const result = await command.run()
      if (result.code !== 0) throw new Error(`${command.label} exited ${result.code}: ${result.stderr.slice(-500)}`)
    }
    for (let i = 0; i < runs && !ctx.expired(); i++) {
      for (const command of commands) {
        const result = await command.run()
        if (result.code !== 0) throw new Error(`${command.label} exited ${result.code}: ${result.stderr.slice(-500)}`)
        times[command.id].push(result.ms)
      }
    }
  } finally {
    await server.stop()
    fs.rmSync(store, {recursive: true, force: true})
    fs.rmSync(uploads, {recursive: true, force: true})
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
  return {rows}
}

module.exports = {runCli}
