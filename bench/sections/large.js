'use strict'
// Section 1: one large image PUT then GET over loopback, through iss (CLI against `iss serve`)
// and through three anchors: (a) a raw Node pipe with the same fsync policy, (b) nginx WebDAV PUT
// and static GET driven by curl, (c) a Python server and client written from the seed.
const fs = require('node:fs')
const path = require('node:path')
const {median, ratio} = require('../lib/stats.js')
const {freeBytes, sameEnds, writePngLike} = require('../lib/files.js')
const {freePort, runTimed, startServer} = require('../lib/procs.js')
const {issMissing, runIss, startIss} = require('../lib/iss.js')
const {startNginx} = require('../lib/nginx.js')
const {summarizeProfile} = require('../lib/cpuprofile.js')

const BENCH = path.resolve(__dirname, '..')
// Baseline (c) is the seed server the interop tests use.
const SEED_SERVER = path.join(BENCH, '..', 'test', 'interop', 'seed_server.py')
const MiB = 1024 * 1024

/**
 * The systems measured. `anchor` names the row a ratio is taken against. The iss client fsyncs
 * every download before publishing it (src/core/download-target.ts), so the raw pipe's GET does
 * too; the server side follows each row's policy. curl and the seed client do not fsync.
 */
function systems(ctx) {
  const node = process.execPath
  const raw = (fsync) => ({
    id: fsync ? 'raw-fsync' : 'raw-nofsync',
    label: `(a) raw Node pipe${fsync ? '' : ', no fsync'}`,
    policy: fsync ? 'server fsync; client fsync' : 'server no fsync; client fsync',
    start: (dir, port) =>
      startServer({
        name: `raw pipe ${fsync ? 'fsync' : 'no-fsync'}`,
        command: node,
        args: [path.join(BENCH, 'raw-pipe.js'), 'server', String(port), dir, fsync ? 'fsync' : 'no-fsync'],
        port,
        logDir: ctx.tmp,
      }),
    put: (port, file, name) => runTimed(node, [path.join(BENCH, 'raw-pipe.js'), 'put', String(port), file, name]),
    get: (port, name, out) =>
      runTimed(node, [path.join(BENCH, 'raw-pipe.js'), 'get', String(port), name, out, 'fsync']),
  })
  const iss = (fsync) => ({
    id: fsync ? 'iss-fsync' : 'iss-nofsync',
    label: `iss${fsync ? '' : ' --no-fsync'}`,
    anchor: fsync ? 'raw-fsync' : 'raw-nofsync',
    policy: fsync ? 'server fsync (default); client fsync' : 'server no fsync; client fsync',
    skip: issMissing(),
    start: (dir, port) => startIss({storage: dir, port, fsync, maxSize: ctx.opts.largeSize + MiB, logDir: ctx.tmp}),
    put: (port, file) => runIss(['put', file, '--port', String(port)]),
    get: (port, name, out) =>
      runIss(['get', name, '-o', out, '--port', String(port), '--max-size', String(ctx.opts.largeSize + MiB)]),
  })
  const list = [
    raw(true),
    iss(true),
    raw(false),
    iss(false),
    {
      id: 'nginx',
      label: '(b) nginx WebDAV + curl',
      anchor: 'raw-nofsync',
      policy: 'no fsync (nginx has none)',
      skip: ctx.nginx.binary ? (ctx.opts.noNginx ? 'disabled (--no-nginx)' : null) : ctx.nginx.reason,
      start: (dir, port) =>
        startNginx({binary: ctx.nginx.binary, dir: path.join(ctx.tmp, 'nginx-large'), root: dir, port}),
      put: (port, file, name) => runTimed('curl', ['-sS', '-f', '-T', file, `http://127.0.0.1:${port}/${name}`]),
      get: (port, name, out) => runTimed('curl', ['-sS', '-f', '-o', out, `http://127.0.0.1:${port}/${name}`]),
    },
    {
      id: 'python-seed',
      label: '(c) Python seed (whole file in memory)',
      anchor: 'raw-nofsync',
      policy: 'no fsync (as the seed)',
      runs: ctx.opts.pythonRuns,
      skip: ctx.opts.noPython ? 'disabled (--no-python)' : null,
      start: (dir, port) =>
        startServer({
          name: 'python seed server',
          command: 'python3',
          args: [SEED_SERVER, dir, '--endian', 'big', '--port', String(port)],
          port,
          logDir: ctx.tmp,
        }),
      put: (port, file, name) =>
        runTimed('python3', [path.join(BENCH, 'seed', 'seed_client.py'), String(port), 'put', file, name]),
      get: (port, name, out) =>
        runTimed('python3', [path.join(BENCH, 'seed', 'seed_client.py'), String(port), 'get', name, out]),
    },
  ]
  return list
}

/** One PUT then GET through a running system, with the peak RSS of each side in each phase. */
async function oneRun(ctx, system, state, source, run) {
  const {server, port, dir} = state
  // iss takes the stored name from the file name: give each run its own name (a hard link).
  const name = `big-${system.id}-${run}.png`
  const file = path.join(ctx.tmp, name)
  fs.rmSync(file, {force: true})
  fs.linkSync(source, file)
  const out = path.join(ctx.tmp, `out-${name}`)
  fs.rmSync(out, {force: true})
  try {
    server.resetPeak()
    const put = await system.put(port, file, name)
    if (put.code !== 0)
      throw new Error(`PUT exited ${put.code ?? put.signal}: ${(put.stderr + put.stdout).slice(-800)}`)
    const serverPutKiB = server.peakKiB()
    server.resetPeak()
    const get = await system.get(port, name, out)
    if (get.code !== 0)
      throw new Error(`GET exited ${get.code ?? get.signal}: ${(get.stderr + get.stdout).slice(-800)}`)
    if (!sameEnds(source, out)) throw new Error('the downloaded file differs from the upload')
    const serverGetKiB = server.peakKiB()
    return {
      putMs: put.ms,
      getMs: get.ms,
      clientPutKiB: put.rssKiB,
      clientGetKiB: get.rssKiB,
      serverPutKiB,
      serverGetKiB,
    }
  } finally {
    fs.rmSync(out, {force: true})
    fs.rmSync(file, {force: true})
    // The stored copy goes too (names never repeat, so iss's index does not mind).
    fs.rmSync(path.join(dir, name), {force: true})
  }
}

/** One iss PUT and GET with --cpu-prof on server and client; returns the hottest functions of each. */
async function profileIss(ctx, source) {
  const profDir = path.join(ctx.resultsDir, `profile-${ctx.stamp}`)
  fs.mkdirSync(profDir, {recursive: true})
  const dir = path.join(ctx.tmp, 'large-profile')
  fs.mkdirSync(dir, {recursive: true})
  const port = await freePort()
  const phases = {}
  for (const phase of ['put', 'get']) {
    const serverDir = path.join(profDir, `server-${phase}`)
    const clientDir = path.join(profDir, `client-${phase}`)
    const server = await startIss({
      storage: dir,
      port,
      maxSize: ctx.opts.largeSize + MiB,
      nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${serverDir}`],
      logDir: ctx.tmp,
    })
    const name = 'profiled.png'
    const file = path.join(ctx.tmp, name)
    const out = path.join(ctx.tmp, `out-${name}`)
    let result
    try {
      if (phase === 'put') {
        fs.rmSync(file, {force: true})
        fs.linkSync(source, file)
        result = await runIss(['put', file, '--port', String(port)], {
          nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${clientDir}`],
        })
      } else {
        fs.rmSync(out, {force: true})
        result = await runIss(
          ['get', name, '-o', out, '--port', String(port), '--max-size', String(ctx.opts.largeSize + MiB)],
          {
            nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${clientDir}`],
          },
        )
      }
    } finally {
      // The profile is written when the server exits on SIGTERM.
      await server.stop(15_000)
    }
    phases[phase] = {
      ms: result.ms,
      code: result.code,
      server: summarizeProfile(serverDir),
      client: summarizeProfile(clientDir),
    }
  }
  fs.rmSync(dir, {recursive: true, force: true})
  fs.rmSync(path.join(ctx.tmp, 'profiled.png'), {force: true})
  fs.rmSync(path.join(ctx.tmp, 'out-profiled.png'), {force: true})
  return {dir: profDir, phases}
}

async function runLarge(ctx) {
  const size = ctx.opts.largeSize
  const needed = 3 * size + 256 * MiB
  const free = freeBytes(ctx.tmp)
  if (free < needed) {
    return {
      skipped: `needs ${(needed / 2 ** 30).toFixed(2)} GiB free in ${ctx.tmp}, has ${(free / 2 ** 30).toFixed(2)} GiB`,
    }
  }
  const source = path.join(ctx.tmp, 'large-source.png')
  ctx.log(`large: writing a ${(size / MiB).toFixed(0)} MiB source file`)
  writePngLike(source, size)
  const rows = []
  const states = new Map()
  try {
    const list = systems(ctx)
    for (const system of list) {
      if (system.skip) {
        rows.push({id: system.id, label: system.label, policy: system.policy, skipped: system.skip})
        ctx.log(`large: ${system.label}: skipped: ${system.skip}`)
        continue
      }
      const dir = path.join(ctx.tmp, `large-${system.id}`)
      fs.rmSync(dir, {recursive: true, force: true})
      fs.mkdirSync(dir, {recursive: true})
      const port = await freePort()
      try {
        states.set(system.id, {server: await system.start(dir, port), port, dir, samples: [], failed: null})
      } catch (error) {
        rows.push({id: system.id, label: system.label, policy: system.policy, failed: String(error.message ?? error)})
        ctx.log(`large: ${system.label}: FAILED to start: ${error.message.split('\n', 1)[0]}`)
      }
    }
    // Rounds, each system once per round: the noise of a shared machine then falls on all alike.
    // The first round always runs whole; the budget only cuts later rounds.
    const rounds = Math.max(...list.map((system) => system.runs ?? ctx.opts.largeRuns))
    for (let run = 0; run < rounds && (run === 0 || !ctx.expired()); run++) {
      for (const system of list) {
        const state = states.get(system.id)
        if (!state || state.failed || run >= (system.runs ?? ctx.opts.largeRuns)) continue
        ctx.log(`large: round ${run + 1}/${rounds}: ${system.label}`)
        try {
          state.samples.push(await oneRun(ctx, system, state, source, run))
        } catch (error) {
          state.failed = String(error.message ?? error)
          ctx.log(`large: ${system.label}: FAILED: ${state.failed.split('\n', 1)[0]}`)
        }
      }
    }
    for (const system of list) {
      const state = states.get(system.id)
      if (!state) continue
      const {samples} = state
      if (samples.length === 0) {
        rows.push({
          id: system.id,
          label: system.label,
          policy: system.policy,
          failed: state.failed ?? 'no run finished',
        })
        continue
      }
      const putMs = median(samples.map((s) => s.putMs))
      const getMs = median(samples.map((s) => s.getMs))
      rows.push({
        id: system.id,
        label: system.label,
        anchor: system.anchor ?? null,
        policy: system.policy,
        runs: samples.length,
        failedLater: state.failed,
        putGBps: putMs ? size / 1e9 / (putMs / 1000) : null,
        getGBps: getMs ? size / 1e9 / (getMs / 1000) : null,
        putMs,
        getMs,
        serverPeakMiB: Math.max(...samples.flatMap((s) => [s.serverPutKiB, s.serverGetKiB])) / 1024,
        clientPeakMiB: Math.max(...samples.flatMap((s) => [s.clientPutKiB ?? 0, s.clientGetKiB ?? 0])) / 1024,
        samples,
      })
    }
    const order = list.map((system) => system.id)
    rows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id))
    for (const row of rows) {
      const anchor = rows.find((r) => r.id === row.anchor)
      row.putRatio = anchor ? ratio(row.putGBps, anchor.putGBps) : null
      row.getRatio = anchor ? ratio(row.getGBps, anchor.getGBps) : null
    }
    let profile = null
    if (ctx.opts.profile && !issMissing()) {
      ctx.log('large: profiling one iss PUT and GET (--cpu-prof)')
      try {
        profile = await profileIss(ctx, source)
      } catch (error) {
        profile = {failed: String(error.message ?? error)}
      }
    }
    return {sizeBytes: size, rows, profile}
  } finally {
    for (const state of states.values()) {
      await state.server.stop()
      fs.rmSync(state.dir, {recursive: true, force: true})
    }
    fs.rmSync(source, {force: true})
  }
}

module.exports = {runLarge}
