'use strict'
// Section: batches (issue 16 item 4). 1,000 files of 100 KiB sent with `iss put DIR --parallel N` and fetched
// back with `iss get --all --parallel N`, against the anchor of one file at a time over one connection (what scp
// does: `--parallel 1`), each run a fresh store (put) or a fresh folder (get), the same server settings as a user
// gets by default. Ratios are anchor time / case time (above 1: faster than one at a time). Run alone with
// `--sections batch`; `--quick` sends 200 files.
const fs = require('node:fs')
const path = require('node:path')
const {median} = require('../lib/stats.js')
const {pngHead} = require('../lib/files.js')
const {freePort} = require('../lib/procs.js')
const {issMissing, runIss, startIss} = require('../lib/iss.js')

const FILE_BYTES = 100 * 1024
/** Lanes measured per mode: the anchor (1) and the default (4) always. */
const LANES = {quick: [1, 4], default: [1, 4, 8], long: [1, 2, 4, 8]}

function writeFiles(dir, count) {
  fs.mkdirSync(dir, {recursive: true})
  const head = pngHead()
  for (let i = 0; i < count; i++) {
    const data = require('node:crypto').randomBytes(FILE_BYTES)
    head.copy(data)
    fs.writeFileSync(path.join(dir, `batch-${String(i).padStart(5, '0')}.png`), data)
  }
}

/** One timed `iss` run; throws unless it exited 0 and its summary counts `count` files. */
async function timed(args, count) {
  const result = await runIss([...args, '--json'], {measureRss: false, timeoutMs: 600_000})
  if (result.code !== 0) throw new Error(`iss ${args.join(' ')} exited ${result.code}: ${result.stderr.slice(-500)}`)
  const {summary} = JSON.parse(result.stdout)
  if (summary.sent !== count) throw new Error(`iss ${args.join(' ')} sent ${summary.sent} of ${count}`)
  return result.ms
}

async function runBatch(ctx) {
  const missing = issMissing()
  if (missing) return {skipped: missing}
  const count = ctx.opts.mode === 'quick' ? 200 : 1000
  const runs = ctx.opts.mode === 'quick' ? 1 : ctx.opts.mode === 'long' ? 5 : 3
  const source = path.join(ctx.tmp, 'batch-source')
  writeFiles(source, count)
  const laneCases = LANES[ctx.opts.mode] ?? LANES.default
  const times = {}
  for (const lanes of laneCases) times[lanes] = {put: [], get: []}
  try {
    for (let run = 0; run < runs && (run === 0 || !ctx.expired()); run++) {
      // Interleaved, so that noise on a shared machine hits every case alike.
      for (const lanes of laneCases) {
        const store = path.join(ctx.tmp, `batch-store-${lanes}`)
        fs.rmSync(store, {recursive: true, force: true})
        const port = await freePort()
        const server = await startIss({storage: store, port, logDir: ctx.tmp, name: `iss serve batch ${lanes}`})
        try {
          const common = ['--port', String(port), '--parallel', String(lanes)]
          times[lanes].put.push(await timed(['put', source, ...common], count))
          const out = path.join(ctx.tmp, `batch-out-${lanes}`)
          fs.rmSync(out, {recursive: true, force: true})
          fs.mkdirSync(out)
          times[lanes].get.push(await timed(['get', '--all', '-o', out, ...common], count))
          fs.rmSync(out, {recursive: true, force: true})
        } finally {
          await server.stop()
          fs.rmSync(store, {recursive: true, force: true})
        }
      }
    }
  } finally {
    fs.rmSync(source, {recursive: true, force: true})
  }

  const rows = []
  for (const direction of ['put', 'get']) {
    const anchor = median([...times[1][direction]].sort((a, b) => a - b))
    for (const lanes of laneCases) {
      const sorted = [...times[lanes][direction]].sort((a, b) => a - b)
      const ms = median(sorted)
      rows.push({
        id: `${direction}-${lanes}`,
        direction,
        lanes,
        runs: sorted.length,
        medianMs: ms,
        filesPerSec: ms ? (count * 1000) / ms : null,
        mibPerSec: ms ? (count * FILE_BYTES * 1000) / ms / 2 ** 20 : null,
        ratio: ms && anchor ? anchor / ms : null,
        samples: times[lanes][direction],
      })
    }
  }
  const table = {
    title: `Batches: ${count} files of ${FILE_BYTES / 1024} KiB, iss put DIR / iss get --all, whole command (medians); vs one at a time = --parallel 1 time / this time`,
    headers: ['case', 'runs', 'median s', 'files/s', 'MiB/s', 'vs one at a time'],
    rows: rows.map((r) => [
      `${r.direction === 'put' ? 'iss put DIR' : 'iss get --all'} --parallel ${r.lanes}${r.lanes === 1 ? ' (scp-like anchor)' : ''}`,
      String(r.runs),
      r.medianMs === null ? '' : (r.medianMs / 1000).toFixed(2),
      r.filesPerSec === null ? '' : r.filesPerSec.toFixed(0),
      r.mibPerSec === null ? '' : r.mibPerSec.toFixed(1),
      r.ratio === null ? '' : `${r.ratio.toFixed(2)}x`,
    ]),
  }
  return {count, fileBytes: FILE_BYTES, rows, table}
}

module.exports = {runBatch}
