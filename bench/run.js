#!/usr/bin/env node
'use strict'
// `npm run bench`: iss measured against anchors in the same run (a raw Node pipe, nginx, a Python
// seed implementation), every figure a median of several runs and a ratio to its anchor, because
// absolute numbers on a shared 2-core machine mean little. Prints tables, writes JSON (and the
// tables as Markdown) to bench/results/. See docs/performance.md.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const {spawnSync} = require('node:child_process')
const {freeBytes} = require('./lib/files.js')
const {killAll} = require('./lib/procs.js')
const {ensureNginx} = require('./lib/nginx.js')
const {profileText, renderMarkdown, renderText, tables, targets, targetsTable} = require('./lib/report.js')

const SECTIONS = ['large', 'small', 'list', 'cli', 'batch', 's3', 'tls']
const GiB = 2 ** 30
const MiB = 2 ** 20

const MODES = {
  quick: {
    largeSize: 16 * MiB,
    largeRuns: 1,
    pythonRuns: 1,
    smallDuration: 1000,
    smallWarmup: 300,
    smallRuns: 1,
    connections: 64,
    listCount: 2000,
    listLargeCount: 0,
    listRuns: 3,
    cliRuns: 3,
    install: false,
    budgets: {large: 60, small: 60, list: 60, cli: 60, batch: 120, s3: 240, tls: 60},
  },
  default: {
    largeSize: GiB,
    largeRuns: 3,
    pythonRuns: 1,
    smallDuration: 3000,
    smallWarmup: 1000,
    smallRuns: 3,
    connections: 64,
    listCount: 100_000,
    listLargeCount: 0,
    listRuns: 10,
    cliRuns: 12,
    install: true,
    // Budgets stop new rounds (the first always runs): the whole default run stays under 10 minutes.
    budgets: {large: 180, small: 120, list: 90, cli: 90, batch: 240, s3: 600, tls: 180},
  },
  long: {
    largeSize: GiB,
    largeRuns: 5,
    pythonRuns: 3,
    smallDuration: 10_000,
    smallWarmup: 2000,
    smallRuns: 5,
    connections: 64,
    listCount: 100_000,
    // Issue 18's 1.6-million-name store: idle RSS and one whole LIST (linking the names takes minutes).
    listLargeCount: 1_600_000,
    listRuns: 20,
    cliRuns: 30,
    install: true,
    budgets: {large: 900, small: 600, list: 240, cli: 180, batch: 600, s3: 1200, tls: 600},
  },
}

const USAGE = `Usage: npm run bench -- [options]
  --quick              seconds-long smoke run (16 MiB, 1 s windows, 2,000 names; never installs nginx)
  --long               more runs and longer windows (about 30 minutes)
  --sections a,b       only these of: ${SECTIONS.join(', ')} (cli: start-up rows only)
  --size BYTES         large transfer size (default 1 GiB; suffixes KiB, MiB, GiB)
  --runs N             runs per case (large and small)
  --duration SECONDS   small-operation window per run
  --connections N      concurrent connections for small operations (default 64)
  --list-count N       images stored for LIST (default 100000)
  --list-large N       also a store of N names of 240 bytes: idle RSS, one whole LIST (long: 1600000)
  --cli-runs N         runs per CLI command (default 12)
  --profile            also run one iss PUT and GET under --cpu-prof and summarise it
  --no-nginx           skip nginx;  --no-install: never apt-get install nginx
  --no-python          skip the Python seed anchor
  --tmp DIR            where test files go (default: the OS temp dir)
  --out FILE           JSON result path (default bench/results/<timestamp>.json)`

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kib|mib|gib|kb|mb|gb)?$/i.exec(text)
  if (!match) throw new Error(`bad size: ${text}`)
  const unit = {b: 1, kib: 1024, mib: MiB, gib: GiB, kb: 1e3, mb: 1e6, gb: 1e9}[(match[2] ?? 'b').toLowerCase()]
  return Math.round(Number(match[1]) * unit)
}

function parseArgs(argv) {
  const mode = argv.includes('--quick') ? 'quick' : argv.includes('--long') ? 'long' : 'default'
  const opts = {mode, ...MODES[mode], budgets: {...MODES[mode].budgets}, sections: [...SECTIONS]}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    switch (arg) {
      case '--quick':
      case '--long':
        break
      case '--sections': {
        opts.sections = value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
        const unknown = opts.sections.filter((s) => !SECTIONS.includes(s))
        if (unknown.length > 0) throw new Error(`unknown section(s): ${unknown.join(', ')}`)
        break
      }
      case '--size':
        opts.largeSize = parseSize(value())
        break
      case '--runs':
        opts.largeRuns = Math.max(1, Number(value()))
        opts.smallRuns = opts.largeRuns
        break
      case '--duration':
        opts.smallDuration = Math.max(100, Number(value()) * 1000)
        break
      case '--connections':
        opts.connections = Math.max(1, Number(value()))
        break
      case '--list-count':
        opts.listCount = Math.max(1, Number(value()))
        break
      case '--list-large':
        opts.listLargeCount = Math.max(0, Number(value()))
        break
      case '--cli-runs':
        opts.cliRuns = Math.max(1, Number(value()))
        break
      case '--profile':
        opts.profile = true
        break
      case '--no-nginx':
        opts.noNginx = true
        break
      case '--no-install':
        opts.install = false
        break
      case '--no-python':
        opts.noPython = true
        break
      case '--tmp':
        opts.tmpRoot = value()
        break
      case '--out':
        opts.out = value()
        break
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n')
        process.exit(0)
        break
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`)
    }
  }
  // Linking, indexing and listing a large store take about 1 s per 2,000 names on this machine.
  opts.budgets.list += Math.ceil(opts.listLargeCount / 2000)
  return opts
}

function tryRun(command, args) {
  // Some tools (nginx -v) print their version on stderr.
  const result = spawnSync(command, args, {encoding: 'utf8', timeout: 5000})
  if (result.error) return null
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || null
}

/** The filesystem and block device under dir, from /proc/mounts (longest matching mount point). */
function diskOf(dir) {
  try {
    const real = fs.realpathSync(dir)
    const mounts = fs
      .readFileSync('/proc/mounts', 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([, point]) => real === point || real.startsWith(point.endsWith('/') ? point : point + '/'))
      .sort((a, b) => b[1].length - a[1].length)
    const [device, point, type] = mounts[0] ?? []
    const base = device ? path.basename(device).replace(/\d+$/, '') : null
    let rotational = null
    try {
      rotational = fs.readFileSync(`/sys/block/${base}/queue/rotational`, 'utf8').trim() === '1'
    } catch {}
    const stats = fs.statfsSync(dir)
    return {
      device,
      mountPoint: point,
      type,
      rotational,
      sizeGiB: (stats.blocks * stats.bsize) / GiB,
      freeGiB: freeBytes(dir) / GiB,
    }
  } catch {
    return null
  }
}

function machine(tmp) {
  const cpus = os.cpus()
  return {
    host: os.hostname(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? null,
    memGiB: os.totalmem() / GiB,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    python: tryRun('python3', ['--version']),
    nginx: tryRun('nginx', ['-v']),
    curl: tryRun('curl', ['--version'])?.split('\n', 1)[0] ?? null,
    disk: diskOf(tmp),
    loadavgStart: os.loadavg(),
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const stamp = new Date().toISOString().replaceAll(/[:.]/g, '-')
  const resultsDir = path.join(__dirname, 'results')
  fs.mkdirSync(resultsDir, {recursive: true})
  const tmp = fs.mkdtempSync(path.join(opts.tmpRoot ?? os.tmpdir(), 'iss-bench-'))
  const log = (line) =>
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`)
  const cleanup = () => fs.rmSync(tmp, {recursive: true, force: true})
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      killAll()
      cleanup()
      process.exit(130)
    })
  }

  const info = machine(tmp)
  log(
    `${opts.mode} mode; sections ${opts.sections.join(', ')}; ${info.cpus} cores, ${info.memGiB.toFixed(0)} GiB, Node ${info.node}`,
  )
  log(`temporary files in ${tmp}: ${info.disk ? info.disk.freeGiB.toFixed(1) + ' GiB free' : 'free space unknown'}`)
  const needsNginx = !opts.noNginx && opts.sections.some((s) => !['cli', 'batch', 's3', 'tls'].includes(s))
  const nginx = needsNginx ? await ensureNginx({allowInstall: opts.install, log}) : {binary: null, reason: 'not needed'}
  if (needsNginx && !nginx.binary) log(`nginx rows will be skipped: ${nginx.reason}`)
  if (nginx.binary) info.nginx = tryRun(nginx.binary, ['-v'])

  const runners = {
    large: () => require('./sections/large.js').runLarge,
    small: () => require('./sections/small.js').runSmall,
    list: () => require('./sections/list.js').runList,
    cli: () => require('./sections/cli.js').runCli,
    batch: () => require('./sections/batch.js').runBatch,
    s3: () => require('./sections/s3.js').runS3,
    tls: () => require('./sections/tls.js').runTls,
  }
  const sections = {}
  for (const name of opts.sections) {
    const budgetMs = opts.budgets[name] * 1000
    const sectionStarted = Date.now()
    const ctx = {opts, tmp, log, nginx, resultsDir, stamp, expired: () => Date.now() - sectionStarted > budgetMs}
    log(`section ${name} (budget ${opts.budgets[name]} s)`)
    let timer
    try {
      // The budget stops new runs (ctx.expired); the watchdog, at twice the budget, stops a stuck one.
      const watchdog = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`stopped after ${(2 * budgetMs) / 1000} s`)), 2 * budgetMs + 30_000)
      })
      sections[name] = await Promise.race([runners[name]()(ctx), watchdog])
    } catch (error) {
      killAll()
      sections[name] = {failed: String(error?.stack ?? error)}
      log(`section ${name} FAILED: ${error?.message ?? error}`)
    } finally {
      clearTimeout(timer)
    }
    sections[name].elapsedMs = Date.now() - sectionStarted
  }
  cleanup()

  info.loadavgEnd = os.loadavg()
  const targetList = targets(sections)
  const all = [...tables(sections), targetsTable(targetList)]
  const profile = profileText(sections.large?.profile)
  const text = [
    `iss bench (${opts.mode}): ${info.cpus} x ${info.cpuModel}, ${info.memGiB.toFixed(0)} GiB RAM, Node ${info.node}, ` +
      `load average ${info.loadavgStart.map((l) => l.toFixed(2)).join(' ')} at start`,
    ...all.map(renderText),
    ...(profile ? [profile] : []),
  ].join('\n\n')
  process.stdout.write(text + '\n')

  const result = {
    version: 1,
    startedAt: new Date(started).toISOString(),
    elapsedMs: Date.now() - started,
    machine: info,
    options: opts,
    nginx,
    sections,
    targets: targetList,
  }
  const out = opts.out ?? path.join(resultsDir, `${stamp}.json`)
  fs.mkdirSync(path.dirname(out), {recursive: true})
  fs.writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
  fs.writeFileSync(out.replace(/\.json$/, '') + '.md', all.map(renderMarkdown).join('\n\n') + '\n')
  log(`wrote ${out} (and .md) in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

main().catch((error) => {
  process.stderr.write(`bench: ${error?.stack ?? error}\n`)
  killAll()
  process.exit(1)
})
