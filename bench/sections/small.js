'use strict'
// Section 2: 100 KB PUTs (new names) and GETs with N concurrent connections for a bounded time,
// iss against nginx (WebDAV PUT, static GET), all driven by the same load generator, which is
// also measured alone against servers that do nothing (in the same rounds), so that its ceiling is known.
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

  const skipRow = (id, label, policy, reason) => {
    rows.push({id, label, policy, skipped: reason})
    ctx.log(`small: ${label}: skipped: ${reason}`)
  }

  // Every server up at once, then rounds of every case, so that the noise of a shared machine
  // falls on iss and nginx alike. The first round always runs whole; the budget cuts later ones.
  const cases = []
  const servers = []
  const dirs = []
  try {
    // The load generator alone against servers that do nothing: its ceiling, in the same rounds.
    for (const proto of ['iss', 'http']) {
      for (const op of ['get', 'put']) {
        const port = await freePort()
        servers.push(
          await startServer({
            name: `trivial ${proto} ${op}`,
            command: process.execPath,
            args: [path.join(BENCH, 'trivial-server.js'), String(port), proto, op, data],
            port,
            logDir: ctx.tmp,
          }),
        )
        cases.push({
          id: `ceiling-${proto}-${op}`,
          label: `load generator alone, ${proto} ${op.toUpperCase()}`,
          policy: 'nothing stored',
          proto,
          op,
          port,
          ceiling: true,
        })
      }
    }
    const nginxSkip = ctx.opts.noNginx ? 'disabled (--no-nginx)' : ctx.nginx.binary ? null : ctx.nginx.reason
    if (nginxSkip) {
      skipRow('nginx-get', 'nginx GET', 'static file', nginxSkip)
      skipRow('nginx-put', 'nginx WebDAV PUT', 'no fsync', nginxSkip)
    } else {
      const root = path.join(ctx.tmp, 'small-nginx-root')
      fs.rmSync(root, {recursive: true, force: true})
      fs.mkdirSync(root, {recursive: true})
      dirs.push(root)
      fs.copyFileSync(data, path.join(root, GET_NAME))
      const port = await freePort()
      servers.push(await startNginx({binary: ctx.nginx.binary, dir: path.join(ctx.tmp, 'nginx-small'), root, port}))
      const clean = () => {
        for (const name of fs.readdirSync(root)) if (name !== GET_NAME) fs.rmSync(path.join(root, name), {force: true})
      }
      cases.push(
        {id: 'nginx-get', label: 'nginx GET', policy: 'static file, sendfile', proto: 'http', op: 'get', port},
        {
          id: 'nginx-put',
          label: 'nginx WebDAV PUT',
          policy: 'no fsync (nginx has none)',
          proto: 'http',
          op: 'put',
          port,
          clean,
        },
      )
    }
    const missing = issMissing()
    for (const fsync of [true, false]) {
      const suffix = fsync ? '' : ' --no-fsync'
      const mine = fsync
        ? [
            {id: 'iss-get', label: 'iss GET', policy: 'read only', op: 'get'},
            {id: 'iss-put', label: 'iss PUT', policy: 'fsync file + directory (default)', op: 'put'},
          ]
        : [{id: 'iss-put-nofsync', label: 'iss PUT --no-fsync', policy: 'no fsync (--no-fsync)', op: 'put'}]
      if (missing) {
        for (const c of mine) skipRow(c.id, c.label, c.policy, missing)
        continue
      }
      const store = path.join(ctx.tmp, `small-iss-store${suffix.replace(' --', '-')}`)
      fs.rmSync(store, {recursive: true, force: true})
      fs.mkdirSync(store, {recursive: true})
      dirs.push(store)
      fs.copyFileSync(data, path.join(store, GET_NAME))
      const port = await freePort()
      try {
        servers.push(await startIss({storage: store, port, fsync, logDir: ctx.tmp}))
        for (const c of mine) cases.push({...c, proto: 'iss', port})
      } catch (error) {
        for (const c of mine) skipRow(c.id, c.label, c.policy, `iss serve${suffix} did not start: ${error.message}`)
      }
    }
    // Within a round: the ceilings first, then nginx and iss alternating, GETs before PUTs.
    const rank = (c) => (c.ceiling ? 0 : c.op === 'get' ? 1 : 2)
    cases.sort((a, b) => rank(a) - rank(b))
    const results = new Map(cases.map((c) => [c.id, []]))
    for (let run = 0; run < runs && (run === 0 || !ctx.expired()); run++) {
      for (const c of cases) {
        try {
          results.get(c.id).push(
            await loadgen(ctx, {
              ...base,
              proto: c.proto,
              op: c.op,
              port: c.port,
              namePrefix: `${c.id}-r${run}`,
              maxOps,
            }),
          )
        } catch (error) {
          c.failed = String(error.message ?? error)
        }
        c.clean?.()
        const last = results.get(c.id).at(-1)
        ctx.log(
          `small: round ${run + 1}/${runs}: ${c.label}: ${last ? `${last.opsPerSec.toFixed(0)} ops/s, p99 ${last.p99Ms?.toFixed(1)} ms` : c.failed}`,
        )
      }
    }
    for (const c of cases.filter((c) => c.ceiling)) {
      ceilings[`${c.proto}-${c.op}`] = median(results.get(c.id).map((r) => r.opsPerSec))
    }
    for (const c of cases) {
      const list = results.get(c.id)
      rows.push(
        list.length > 0
          ? summarize(c.id, c.label, c.policy, list, {
              proto: c.proto,
              op: c.op,
              ceiling: c.ceiling ? null : (ceilings[`${c.proto}-${c.op}`] ?? null),
            })
          : {id: c.id, label: c.label, policy: c.policy, failed: c.failed ?? 'no run finished'},
      )
    }
  } finally {
    for (const server of servers) await server.stop()
    for (const dir of dirs) fs.rmSync(dir, {recursive: true, force: true})
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
      // Latency the other way round: iss p99 over the anchor's (lower is better; issue 14 asks <= 1.5x for GET).
      row.p99Ratio = ratio(row.p99Ms, byId(anchorId)?.p99Ms)
    }
  }
  return {sizeBytes: SMALL, connections, durationMs, warmupMs, rows}
}

module.exports = {runSmall}
