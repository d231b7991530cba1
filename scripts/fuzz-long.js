#!/usr/bin/env node
'use strict'
// Long fuzzing of the frame decoder, the pickle decoder and message validation (`npm run fuzz`).
// Runs dist/test/fuzz/fuzz-run.js in worker processes under --max-old-space-size=256, each with its
// own seed, kills any that outlives its time budget (a hang), and prints one summary.
//
//   ISS_FUZZ_INPUTS   total inputs (default 1000000; also --inputs N)
//   ISS_FUZZ_WORKERS  processes (default: 2, or 1 on a single core)
//   ISS_FUZZ_SEED     base seed (default: the time; printed, so a run can be replayed)
//   ISS_FUZZ_TIMEOUT  seconds per worker before it counts as hung (default 3600)
//   ISS_FUZZ_DIST     compiled tree to run (default dist/ of this repository)
const {spawn} = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

function flag(name) {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? undefined : process.argv[at + 1]
}

const total = Number(flag('inputs') ?? process.env.ISS_FUZZ_INPUTS ?? 1_000_000)
const workers = Math.max(1, Number(process.env.ISS_FUZZ_WORKERS ?? Math.min(2, os.availableParallelism())))
const baseSeed = Number(process.env.ISS_FUZZ_SEED ?? Date.now() % 1_000_000_000)
const timeoutMs = Number(process.env.ISS_FUZZ_TIMEOUT ?? 3600) * 1000
const dist = process.env.ISS_FUZZ_DIST ?? path.join(__dirname, '..', 'dist')
const runner = path.join(dist, 'test', 'fuzz', 'fuzz-run.js')

if (!Number.isSafeInteger(total) || total < 1) {
  process.stderr.write(`fuzz: bad input count ${total}\n`)
  process.exit(2)
}

function runWorker(index) {
  const share = Math.ceil(total / workers)
  const options = {
    mutations: Math.round(share * 0.6),
    grammar: Math.round(share * 0.25),
    frames: Math.round(share * 0.15),
    seed: baseSeed + index,
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=256', runner, JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let report
      try {
        report = JSON.parse(out)
      } catch {
        report = {failures: [`worker ${index} (seed ${options.seed}) ended with ${signal ?? code} and no report`]}
      }

      if (signal === 'SIGKILL')
        report.failures.push(`worker ${index} (seed ${options.seed}) hung: killed after ${timeoutMs} ms`)
      resolve({options, report})
    })
  })
}

async function main() {
  process.stdout.write(`fuzz: ${total} inputs, ${workers} workers, seed ${baseSeed}, heap capped at 256 MiB\n`)
  const started = Date.now()
  const results = await Promise.all(Array.from({length: workers}, (_, i) => runWorker(i)))
  const sum = {mutations: 0, grammar: 0, frames: 0, total: 0, accepted: 0, refused: {}, framedMessages: 0}
  let maxInputMs = 0
  let peakRss = 0
  let peakHeap = 0
  const failures = []
  for (const {options, report} of results) {
    failures.push(...(report.failures ?? []).map((f) => `[seed ${options.seed}] ${f}`))
    if (!report.inputs) continue
    for (const key of ['mutations', 'grammar', 'frames', 'total']) sum[key] += report.inputs[key]
    sum.accepted += report.accepted
    sum.framedMessages += report.framedMessages
    for (const [code, n] of Object.entries(report.refused)) sum.refused[code] = (sum.refused[code] ?? 0) + n
    maxInputMs = Math.max(maxInputMs, report.maxInputMs)
    peakRss = Math.max(peakRss, report.peakRssBytes)
    peakHeap = Math.max(peakHeap, report.peakHeapBytes)
  }

  const mib = (n) => `${(n / 1024 / 1024).toFixed(0)} MiB`
  process.stdout.write(
    [
      `inputs: ${sum.total} (mutated seeds ${sum.mutations}, fast-check programs ${sum.grammar}, frame streams ${sum.frames})`,
      `decoded to a value: ${sum.accepted}; refused: ${JSON.stringify(sum.refused)}; messages out of frames: ${sum.framedMessages}`,
      `slowest input: ${maxInputMs.toFixed(1)} ms; peak RSS per worker ${mib(peakRss)}, heap ${mib(peakHeap)}`,
      `time: ${((Date.now() - started) / 1000).toFixed(0)} s`,
      failures.length === 0 ? 'no crash, no hang, no unbounded allocation' : `FAILURES:\n${failures.join('\n')}`,
    ].join('\n') + '\n',
  )
  process.exitCode = failures.length === 0 ? 0 : 1
}

main()
