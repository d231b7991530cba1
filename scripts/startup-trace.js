#!/usr/bin/env node
'use strict'
// What starting the CLI costs, for profiling start-up (the bench's CLI section is the reference figure).
//
//   node scripts/startup-trace.js time [--runs 15] [--bin bin/run.js]...
//     starts `iss serve` on a temporary store and times, interleaved run by run so that load on a shared
//     machine hits all alike: `node -e 0`, `iss --version`, `iss list`, `iss put` of one small file (with every
//     --bin given). Medians.
//   node scripts/startup-trace.js modules [--bin bin/run.js] -- list --port N
//     runs one command with a require hook and prints every module it loaded, with the inclusive time
//     each top-level require took and the total per package.
//
// Run it with the Node that runs iss (node_modules/.bin/node): `npx node scripts/startup-trace.js time`.
const {spawn, spawnSync} = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const {tinyPng} = require('../bench/lib/files.js')

function option(argv, name, fallback) {
  const values = []
  for (let i = 0; i < argv.length; i++) if (argv[i] === name) values.push(argv[i + 1])
  return values.length > 0 ? values : fallback
}

function runTimed(args, env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: {...process.env, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stdout.resume()
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      if (code === 0) resolve(ms)
      else reject(new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(-400)}`))
    })
  })
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function startServer(store, port) {
  const args = [
    path.join(ROOT, 'bin', 'run.js'),
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--storage',
    store,
  ]
  const child = spawn(process.execPath, args, {cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit']})
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (up) return child
    if (child.exitCode !== null) throw new Error(`iss serve exited ${child.exitCode}`)
    await new Promise((resolve) => {
      setTimeout(resolve, 100)
    })
  }
  child.kill()
  throw new Error('iss serve did not start within 60 s')
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

async function time(argv) {
  const runs = Number(option(argv, '--runs', ['15'])[0])
  const bins = option(argv, '--bin', ['bin/run.js']).map((bin) => path.resolve(ROOT, bin))
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'iss-startup-'))
  for (const name of ['a.png', 'b.jpg', 'c.png']) fs.writeFileSync(path.join(store, name), Buffer.from([0x89, 0x50]))
  const port = await freePort()
  const server = await startServer(store, port)
  // Each `iss put` stores a new name: a stored one would be refused as a duplicate.
  const uploads = fs.mkdtempSync(path.join(os.tmpdir(), 'iss-startup-put-'))
  let uploaded = 0
  const upload = () => {
    const file = path.join(uploads, `put-${uploaded++}.png`)
    fs.writeFileSync(file, tinyPng())
    return file
  }
  const commands = [{label: 'node -e 0', args: () => ['-e', '0']}]
  for (const bin of bins) {
    const tag = bins.length > 1 ? ` [${bin.length > 30 ? '...' + bin.slice(-27) : bin}]` : ''
    commands.push(
      {label: `iss --version${tag}`, args: () => [bin, '--version']},
      {label: `iss list${tag}`, args: () => [bin, 'list', '--port', String(port)]},
      {label: `iss put (one small file)${tag}`, args: () => [bin, 'put', '--port', String(port), upload()]},
    )
  }
  const times = commands.map(() => [])
  try {
    for (const command of commands) await runTimed(command.args()) // warm disk and compile caches
    for (let i = 0; i < runs; i++) {
      for (const [index, command] of commands.entries()) times[index].push(await runTimed(command.args()))
    }
  } finally {
    server.kill()
    fs.rmSync(store, {recursive: true, force: true})
    fs.rmSync(uploads, {recursive: true, force: true})
  }
  const node = median(times[0])
  console.log(`${runs} interleaved runs, load average ${os.loadavg()[0].toFixed(2)}, ${process.version}`)
  for (const [index, command] of commands.entries()) {
    const ms = median(times[index])
    const min = Math.min(...times[index])
    console.log(
      `${command.label.padEnd(48)} median ${ms.toFixed(0).padStart(5)} ms  +${(ms - node).toFixed(0).padEnd(5)} min ${min.toFixed(0)} ms`,
    )
  }
}

// Loaded with --require into the measured process: records each module's inclusive load time.
const HOOK = `
const Module = require('node:module')
const original = Module._load
const records = []
let depth = 0
Module._load = function (request, parent, isMain) {
  const started = process.hrtime.bigint()
  depth++
  try { return original.apply(this, arguments) } finally {
    depth--
    let file = request
    try { file = Module._resolveFilename(request, parent, isMain) } catch {}
    records.push({file, depth, ms: Number(process.hrtime.bigint() - started) / 1e6})
  }
}
process.on('exit', () => { require('node:fs').writeFileSync(process.env.ISS_STARTUP_TRACE, JSON.stringify({records, uptime: process.uptime() * 1000})) })
`

function modules(argv) {
  const dash = argv.indexOf('--')
  const commandArgs = dash === -1 ? ['--version'] : argv.slice(dash + 1)
  const bin = path.resolve(ROOT, option(argv.slice(0, dash === -1 ? argv.length : dash), '--bin', ['bin/run.js'])[0])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iss-trace-'))
  try {
    const hook = path.join(dir, 'hook.js')
    const out = path.join(dir, 'trace.json')
    fs.writeFileSync(hook, HOOK)
    const result = spawnSync(process.execPath, ['--require', hook, bin, ...commandArgs], {
      cwd: ROOT,
      env: {...process.env, ISS_STARTUP_TRACE: out},
      encoding: 'utf8',
    })
    process.stderr.write(result.stderr)
    const {records, uptime} = JSON.parse(fs.readFileSync(out, 'utf8'))
    const seen = new Set()
    const files = records.filter((r) => !seen.has(r.file) && seen.add(r.file) && path.isAbsolute(r.file))
    const byPackage = new Map()
    for (const record of files) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(record.file)
      const key = match ? match[1] : path.relative(ROOT, record.file).split(path.sep).slice(0, 3).join('/')
      byPackage.set(key, (byPackage.get(key) ?? 0) + 1)
    }
    console.log(`exit ${result.status}; ${files.length} files loaded; process uptime at exit ${uptime.toFixed(0)} ms`)
    console.log('files per package or folder:')
    for (const [key, count] of [...byPackage].sort((a, b) => b[1] - a[1]))
      console.log(`  ${String(count).padStart(4)}  ${key}`)
    console.log('slowest requires (inclusive ms, depth):')
    for (const record of [...records].sort((a, b) => b.ms - a.ms).slice(0, 30)) {
      console.log(
        `  ${record.ms.toFixed(1).padStart(7)}  ${record.depth}  ${path.relative(ROOT, record.file) || record.file}`,
      )
    }
  } finally {
    fs.rmSync(dir, {recursive: true, force: true})
  }
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === 'time') {
  time(rest).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
} else if (mode === 'modules') {
  modules(rest)
} else {
  console.error('usage: startup-trace.js time [--runs N] [--bin PATH]... | modules [--bin PATH] -- ARGS...')
  process.exitCode = 2
}
