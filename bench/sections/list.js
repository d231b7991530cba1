'use strict'
// Section 3: LIST latency with many stored images. The store is seeded directly on disk (100,000
// fsynced PUTs would take too long); iss indexes it at start. Anchors on the same folder: the
// Python seed server (os.listdir, sorted, pickled) and nginx's JSON autoindex.
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const {median, ratio} = require('../lib/stats.js')
const {seedStore} = require('../lib/files.js')
const {freePort, startServer} = require('../lib/procs.js')
const {issMissing, runIss, startIss} = require('../lib/iss.js')
const {startNginx} = require('../lib/nginx.js')
const {FrameSkipper, requestFrame, responseStatus} = require('../lib/iss-wire.js')
const {httpRequest, ResponseSkipper} = require('../lib/http-wire.js')

const BENCH = path.resolve(__dirname, '..')
// Baseline (c) is the seed server the interop tests use.
const SEED_SERVER = path.join(BENCH, '..', 'test', 'interop', 'seed_server.py')
const NAME_MARK = Buffer.from('img-')

function countMarks(buffers) {
  const buffer = Buffer.concat(buffers)
  let count = 0
  for (let at = buffer.indexOf(NAME_MARK); at !== -1; at = buffer.indexOf(NAME_MARK, at + 1)) count++
  return count
}

/** One request on a fresh connection (as a CLI does), timed from connect to the last byte. */
function once(port, proto, keep = false) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const kept = []
    const socket = net.connect({host: '127.0.0.1', port})
    const finish = (status, length) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      socket.destroy()
      resolve({ms, status, length, names: keep ? countMarks(kept) : null})
    }
    const parser =
      proto === 'iss'
        ? new FrameSkipper((length, head, tail) => finish(responseStatus(head, tail), length))
        : new ResponseSkipper(finish)
    socket.on('connect', () => {
      const parts = proto === 'iss' ? requestFrame({command: 'LIST'}) : httpRequest('GET', '/')
      for (const part of parts) socket.write(part)
    })
    socket.on('data', (chunk) => {
      if (keep) kept.push(chunk)
      try {
        parser.push(chunk)
      } catch (error) {
        socket.destroy()
        reject(error)
      }
    })
    socket.on('error', reject)
    setTimeout(() => {
      socket.destroy()
      reject(new Error('no answer within 60 s'))
    }, 60_000).unref()
  })
}

async function series(ctx, port, proto, runs) {
  // The anchors are context, not targets: fewer runs keep nginx's seconds-long autoindex affordable.
  const first = await once(port, proto, true)
  const samples = []
  for (let i = 0; i < runs && !ctx.expired(); i++) samples.push(await once(port, proto))
  return {first, medianMs: median(samples.map((s) => s.ms)), samples: samples.map((s) => s.ms), bytes: first.length}
}

/** `iss list` a few times, with its peak RSS and the number of lines it printed. */
async function cliListRuns(ctx, port, runs) {
  // Printing every name is the CLI's cost, not LIST's: two runs show it without eating the budget.
  const cliRuns = Math.min(runs, ctx.opts.cliRuns, 2)
  const cli = []
  let lines = null
  for (let i = 0; i < cliRuns && !ctx.expired(); i++) {
    const run = await runIss(['list', '--port', String(port)], {measureRss: true})
    if (run.code !== 0) throw new Error(`iss list exited ${run.code}: ${run.stderr.slice(-500)}`)
    lines = run.stdout.split('\n').filter(Boolean).length
    cli.push(run)
  }
  return {cli, lines}
}

const LINKS_PER_FILE = 50_000

/** `count` hard links named by 240-byte names to a few tiny PNGs: a 1.6-million-name store in minutes. */
function seedLinkedStore(dir, count, nameBytes = 240) {
  fs.mkdirSync(dir, {recursive: true})
  const seeds = `${dir}-seeds`
  fs.mkdirSync(seeds, {recursive: true})
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex')
  for (let i = 0; i < count; i++) {
    const seed = path.join(seeds, `${Math.floor(i / LINKS_PER_FILE)}.png`)
    if (i % LINKS_PER_FILE === 0) fs.writeFileSync(seed, png)
    const stem = `${String(i).padStart(8, '0')}-`
    fs.linkSync(seed, path.join(dir, stem + 'x'.repeat(nameBytes - stem.length - 4) + '.png'))
  }
  fs.rmSync(seeds, {recursive: true, force: true})
}

function rssMiB(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(text)[1]) / 1024
}

/**
 * Issue 18, item 6, third instance, as a bench row (too slow for a test): the server's RSS idle over a
 * store of `listLargeCount` names of 240 bytes (1.6 million in --mode long), its peak while sending one
 * whole (seed) LIST, and `iss list` paging through every name.
 */
async function largeStoreRow(ctx) {
  const count = ctx.opts.listLargeCount
  const store = path.join(ctx.tmp, 'list-large-store')
  fs.rmSync(store, {recursive: true, force: true})
  ctx.log(`list: linking ${count} names of 240 bytes`)
  seedLinkedStore(store, count)
  const port = await freePort()
  let server
  try {
    const started = Date.now()
    server = await startIss({storage: store, port, logDir: ctx.tmp, readyTimeoutMs: 900_000})
    const startMs = Date.now() - started
    await new Promise((resolve) => {
      setTimeout(resolve, 3000)
    })
    const idleMiB = rssMiB(server.pid)
    server.resetPeak()
    const whole = await once(port, 'iss', false)
    const listPeakMiB = server.peakKiB() / 1024
    const run = await runIss(['list', '--port', String(port)], {measureRss: true, timeoutMs: 900_000})
    if (run.code !== 0) throw new Error(`iss list exited ${run.code}: ${run.stderr.slice(-500)}`)
    return {
      id: 'iss-large',
      label: `iss, ${count.toLocaleString('en-US')} names of 240 bytes (whole seed LIST)`,
      medianMs: whole.ms,
      responseBytes: whole.length,
      serverStartMs: startMs,
      serverIdleMiB: idleMiB,
      serverPeakMiB: listPeakMiB,
      cliMedianMs: run.ms,
      cliPeakMiB: (run.rssKiB ?? 0) / 1024,
      cliLines: run.stdout.split('\n').filter(Boolean).length,
    }
  } catch (error) {
    return {id: 'iss-large', label: `iss, ${count} names`, failed: String(error.message ?? error)}
  } finally {
    await server?.stop()
    fs.rmSync(store, {recursive: true, force: true})
  }
}

async function runList(ctx) {
  const count = ctx.opts.listCount
  const runs = ctx.opts.listRuns
  const store = path.join(ctx.tmp, 'list-store')
  fs.rmSync(store, {recursive: true, force: true})
  ctx.log(`list: seeding ${count} PNG files`)
  const seedStarted = Date.now()
  await seedStore(store, count)
  const seedMs = Date.now() - seedStarted
  ctx.log(`list: seeded in ${seedMs} ms`)
  const rows = []
  try {
    const missing = issMissing()
    if (missing) {
      rows.push({id: 'iss', label: 'iss LIST', skipped: missing})
    } else {
      const port = await freePort()
      const started = Date.now()
      let server
      try {
        server = await startIss({storage: store, port, logDir: ctx.tmp})
        const startMs = Date.now() - started
        const result = await series(ctx, port, 'iss', runs)
        if (result.first.status !== 'OK') throw new Error(`LIST answered ${result.first.status}`)
        const {cli, lines} = await cliListRuns(ctx, port, runs)
        rows.push({
          id: 'iss',
          label: 'iss LIST (protocol round trip)',
          medianMs: result.medianMs,
          samples: result.samples,
          responseBytes: result.bytes,
          namesSeen: result.first.names,
          serverStartMs: startMs,
          serverPeakMiB: server.peakKiB() / 1024,
          cliMedianMs: median(cli.map((r) => r.ms)),
          cliPeakMiB: cli.length > 0 ? Math.max(...cli.map((r) => r.rssKiB ?? 0)) / 1024 : null,
          cliLines: lines,
        })
        ctx.log(`list: iss ${result.medianMs?.toFixed(1)} ms (start with index ${startMs} ms)`)
      } catch (error) {
        rows.push({id: 'iss', label: 'iss LIST', failed: String(error.message ?? error)})
      } finally {
        await server?.stop()
      }
    }

    if (ctx.opts.noPython) {
      rows.push({id: 'python-seed', label: 'Python seed LIST', skipped: 'disabled (--no-python)'})
    } else {
      const port = await freePort()
      const server = await startServer({
        name: 'python seed server',
        command: 'python3',
        args: [SEED_SERVER, store, '--endian', 'big', '--port', String(port)],
        port,
        logDir: ctx.tmp,
      })
      try {
        const result = await series(ctx, port, 'iss', Math.min(runs, 5))
        ctx.log(`list: Python seed ${result.medianMs?.toFixed(1)} ms`)
        rows.push({
          id: 'python-seed',
          label: 'Python seed LIST (os.listdir, pickle)',
          medianMs: result.medianMs,
          samples: result.samples,
          responseBytes: result.bytes,
          namesSeen: result.first.names,
          serverPeakMiB: server.peakKiB() / 1024,
        })
      } finally {
        await server.stop()
      }
    }

    const nginxSkip = ctx.opts.noNginx ? 'disabled (--no-nginx)' : ctx.nginx.binary ? null : ctx.nginx.reason
    if (nginxSkip) {
      rows.push({id: 'nginx', label: 'nginx autoindex (JSON)', skipped: nginxSkip})
    } else {
      const port = await freePort()
      const server = await startNginx({
        binary: ctx.nginx.binary,
        dir: path.join(ctx.tmp, 'nginx-list'),
        root: store,
        port,
      })
      try {
        const result = await series(ctx, port, 'http', Math.min(runs, 5))
        ctx.log(`list: nginx autoindex ${result.medianMs?.toFixed(1)} ms`)
        rows.push({
          id: 'nginx',
          label: 'nginx autoindex (JSON, stats every file)',
          medianMs: result.medianMs,
          samples: result.samples,
          responseBytes: result.bytes,
          namesSeen: result.first.names,
        })
      } finally {
        await server.stop()
      }
    }
  } finally {
    ctx.log('list: removing the seeded store')
    fs.rmSync(store, {recursive: true, force: true})
  }
  const iss = rows.find((r) => r.id === 'iss')
  // Time ratios: iss's LIST time over each anchor's (below 1, iss answers faster).
  for (const row of rows) if (row.id !== 'iss') row.issTimeRatio = ratio(iss?.medianMs, row.medianMs)
  if (ctx.opts.listLargeCount > 0 && !ctx.expired()) rows.push(await largeStoreRow(ctx))
  return {count, seedMs, rows}
}

module.exports = {runList}
