'use strict'
// Section 2: 100 KB PUTs (new names) and GETs with N concurrent connections for a bounded time,
// iss against nginx (WebDAV PUT, static GET), all driven by the same load generator, which is
// first measured alone against a server that does nothing, so that its ceiling is known.
const fs = require('node:fs')
const path = require('node:path')
const {median, ratio} = require('../lib/stats.js')
const {freeBytes, writePngLike} = require('../lib/files.js')
const {freePort, runTimed, startServer} = require('../lib/procs.js')
const {issMissing, startIss} = require('../lib/iss.js')
const {startNginx} = require('../lib/nginx.js')

const BENCH = path.resolve(__dirname, '..')
const SMALL = 100 * 1024
const GET_NAME = 'get.png'

async function loadgen(ctx, config) {
  const args = [path.join(BENCH, 'loadgen.js'), JSON.stringify(config)]
  const timeoutMs = config.warmupMs + config.durationMs + 30_000
  const result = await runTimed(process.execPath, args, {timeoutMs, measureRss: false})
  const line = result.stdout.trim().split('\n').pop()
  if (result.code !== 0 || !line) throw new Error(`load generator failed: ${result.stderr.slice(-800)}`)
  return JSON.parse(line)
}

function summarize(id, label, policy, results, extra = {}) {
  return {
    id,
    label,
    policy,
    runs: results.length,
    opsPerSec: median(results.map((r) => r.opsPerSec)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    errors: results.reduce((n, r) => n + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError ?? null,
    capped: results.some((r) => r.cappedByMaxOps),
    results,
    ...extra,
  }
}

async function runSmall(ctx) {
  const {connections, smallDuration: durationMs, smallWarmup: warmupMs, smallRuns: runs} = ctx.opts
  const data = path.join(ctx.tmp, 'small-100k.png')
  writePngLike(data, SMALL)
  // PUT runs store every upload: bound them by the disk (and by 2 GiB a run).
  const maxOps = Math.max(1000, Math.floor(Math.min(2 * 2 ** 30, (freeBytes(ctx.tmp) - 2 ** 30) / 2) / SMALL))
  const base = {connections, durationMs, warmupMs, dataFile: data, getName: GET_NAME}
  const rows = []
  const ceilings = {}

  ctx.log('small: load generator alone against a trivial server (its ceiling)')
  for (const proto of ['iss', 'http']) {
    for (const op of ['get', 'put']) {
      const port = await freePort()
      const server = await startServer({
        name: `trivial ${proto} ${op}`,
        command: process.execPath,
        args: [path.join(BENCH, 'trivial-server.js'), String(port), proto, op, data],
        port,
        logDir: ctx.tmp,
      })
      try {
        const result = await loadgen(ctx, {...base, proto, op, port, namePrefix: 'ceiling'})
        ceilings[`${proto}-${op}`] = result.opsPerSec
        rows.push(
          summarize(`ceiling-${proto}-${op}`, `load generator alone, ${proto} ${op.toUpperCase()}`, 'nothing stored', [
            result,
          ]),
        )
      } finally {
        await server.stop()
      }
    }
  }

  const measure = async (id, label, policy, proto, op, port, cleanup) => {
    const results = []
    for (let run = 0; run < runs && !ctx.expired(); run++) {
      results.push(await loadgen(ctx, {...base, proto, op, port, namePrefix: `${id}-r${run}`, maxOps}))
      if (cleanup) cleanup()
    }
    const row = summarize(id, label, policy, results, {proto, op, ceiling: ceilings[`${proto}-${op}`] ?? null})
    ctx.log(
      `small: ${label}: ${row.opsPerSec?.toFixed(0)} ops/s, p99 ${row.p99Ms?.toFixed(1)} ms${row.errors ? `, ${row.errors} errors` : ''}`,
    )
    rows.push(row)
  }

  const skipRow = (id, label, policy, reason) => {
    rows.push({id, label, policy, skipped: reason})
    ctx.log(`small: ${label}: skipped: ${reason}`)
  }

  // nginx
  const nginxSkip = ctx.opts.noNginx ? 'disabled (--no-nginx)' : ctx.nginx.binary ? null : ctx.nginx.reason
  if (nginxSkip) {
    skipRow('nginx-get', 'nginx GET', 'static file', nginxSkip)
    skipRow('nginx-put', 'nginx WebDAV PUT', 'no fsync', nginxSkip)
  } else {
    const root = path.join(ctx.tmp, 'small-nginx-root')
    fs.rmSync(root, {recursive: true, force: true})
    fs.mkdirSync(root, {recursive: true})
    fs.copyFileSync(data, path.join(root, GET_NAME))
    const port = await freePort()
    const server = await startNginx({binary: ctx.nginx.binary, dir: path.join(ctx.tmp, 'nginx-small'), root, port})
    const clean = () => {
      for (const name of fs.readdirSync(root)) if (name !== GET_NAME) fs.rmSync(path.join(root, name), {force: true})
    }
    try {
      await measure('nginx-get', 'nginx GET', 'static file, sendfile', 'http', 'get', port)
      await measure('nginx-put', 'nginx WebDAV PUT', 'no fsync (nginx has none)', 'http', 'put', port, clean)
    } finally {
      await server.stop()
      fs.rmSync(root, {recursive: true, force: true})
    }
  }

  // iss, with its default fsync and with --no-fsync
  const missing = issMissing()
  for (const fsync of [true, false]) {
    const suffix = fsync ? '' : ' --no-fsync'
    const ids = fsync ? ['iss-get', 'iss-put'] : ['iss-put-nofsync']
    if (missing) {
      for (const id of ids) skipRow(id, `iss ${id.includes('get') ? 'GET' : 'PUT'}${suffix}`, '', missing)
      continue
    }
    const store = path.join(ctx.tmp, `small-iss-store${fsync ? '' : '-nofsync'}`)
    fs.rmSync(store, {recursive: true, force: true})
    fs.mkdirSync(store, {recursive: true})
    fs.copyFileSync(data, path.join(store, GET_NAME))
    const port = await freePort()
    let server
    try {
      server = await startIss({storage: store, port, fsync, logDir: ctx.tmp})
      if (fsync) await measure('iss-get', 'iss GET', 'read only', 'iss', 'get', port)
      await measure(
        fsync ? 'iss-put' : 'iss-put-nofsync',
        `iss PUT${suffix}`,
        fsync ? 'fsync file + directory (default)' : 'no fsync (--no-fsync)',
        'iss',
        'put',
        port,
      )
    } catch (error) {
      for (const id of ids) if (!rows.some((r) => r.id === id)) skipRow(id, `iss ${id}`, '', `failed: ${error.message}`)
    } finally {
      await server?.stop()
      fs.rmSync(store, {recursive: true, force: true})
    }
  }
  fs.rmSync(data, {force: true})

  const byId = (id) => rows.find((r) => r.id === id)
  for (const [id, anchorId] of [
    ['iss-get', 'nginx-get'],
    ['iss-put', 'nginx-put'],
    ['iss-put-nofsync', 'nginx-put'],
  ]) {
    const row = byId(id)
    if (row) {
      row.anchor = anchorId
      row.ratio = ratio(row.opsPerSec, byId(anchorId)?.opsPerSec)
    }
  }
  return {sizeBytes: SMALL, connections, durationMs, warmupMs, rows}
}

module.exports = {runSmall}
