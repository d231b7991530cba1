#!/usr/bin/env node
'use strict'
/**
 * What hostile pickles cost the decoder: the heap it holds and the CPU it spends, per instance of
 * issue 18 items 1 and 2 (docs/security.md, "Cost model"). Each instance runs in its own process.
 *
 *   npm run build && npx node bench/decode-cost.js [--instance memo|ints|keys|lists|all] [--server] [--json]
 *
 * --server decodes with the limits a server applies to a request (REQUEST_PICKLE_LIMITS); without it,
 * with the decoder's defaults (what a client applies to a reply).
 *
 * memo   PROTO 4, then (EMPTY_DICT, MEMOIZE) x 999,000, held open (no STOP)
 * ints   protocol 0: MARK, then 120,000 `I` lines of 4,300 digits (516 MB), held open
 * keys   1.8 MB of a dict as CPython writes it: 180,000 small memoized str keys, None values, held open
 * lists  one 1 MB frame body of EMPTY_LIST (`]`)
 *
 * Printed per instance: how it ended (refused with which code, at which byte), the heap the decoder
 * held at that point (after a full GC), and the CPU time spent. ISS_DIST picks another build.
 */
const {execFileSync} = require('node:child_process')
const path = require('node:path')

const dist = process.env.ISS_DIST ?? path.join(__dirname, '..', 'dist')
const CHUNK = 64 * 1024
const INSTANCES = ['memo', 'ints', 'keys', 'lists']

/**
 * The instance's bytes, produced CHUNK at a time so that 516 MB is never held.
 * @yields {Buffer} the next piece
 */
function* pieces(instance) {
  // eslint-disable-next-line unicorn/prefer-switch -- one generator per instance reads better as a chain
  if (instance === 'memo') {
    yield Buffer.from([0x80, 4, 0x7d])
    const pair = Buffer.from([0x7d, 0x94])
    yield* repeated(pair, 999_000)
  } else if (instance === 'ints') {
    yield Buffer.from('(')
    const line = Buffer.from(`I${'7'.repeat(4300)}\n`)
    yield* repeated(line, 120_000)
  } else if (instance === 'keys') {
    // As CPython writes a dict: each key memoized, SETITEMS every 1,000 pairs; 10 bytes per pair.
    yield Buffer.from([0x80, 4, 0x7d, 0x94, 0x28])
    const count = 180_000
    const batch = []
    for (let k = 0; k < count; k++) {
      batch.push(Buffer.from([0x8c, 6, ...Buffer.from(k.toString(16).padStart(6, '0')), 0x94, 0x4e]))
      if (batch.length === 1000) {
        yield Buffer.concat([...batch, Buffer.from('u(')])
        batch.length = 0
      }
    }
  } else {
    yield* repeated(Buffer.from(']'), 1024 * 1024)
  }
}

function* repeated(unit, count) {
  const perChunk = Math.max(1, Math.floor(CHUNK / unit.length))
  const chunk = Buffer.concat(Array.from({length: perChunk}, () => unit))
  for (let left = count; left > 0; left -= perChunk)
    yield left >= perChunk ? chunk : chunk.subarray(0, left * unit.length)
}

/** In the child: feed one instance to a PickleDecoder and report. */
function measure(instance) {
  const decoderModule = require(path.join(dist, 'src/core/protocol/pickle-decoder.js'))
  const {PickleDecoder} = decoderModule
  // --server: the limits a server applies to a request (REQUEST_PICKLE_LIMITS), where the build has them.
  const limits = process.argv.includes('--server') ? decoderModule.REQUEST_PICKLE_LIMITS : undefined
  globalThis.gc()
  const before = process.memoryUsage().heapUsed
  const decoder = new PickleDecoder({streamKeys: ['FILE_DATA'], limits})
  const events = []
  let fed = 0
  let outcome = 'held open'
  let slowestChunkMs = 0
  const cpuStart = process.cpuUsage()
  for (const piece of pieces(instance)) {
    const started = process.hrtime.bigint()
    try {
      fed += decoder.write(piece, events)
    } catch (error) {
      outcome = `${error.code} at byte ${decoder.position}: ${error.message}`
      break
    }

    slowestChunkMs = Math.max(slowestChunkMs, Number(process.hrtime.bigint() - started) / 1e6)
    events.length = 0
  }

  const cpu = process.cpuUsage(cpuStart)
  globalThis.gc()
  const held = process.memoryUsage().heapUsed - before
  // Keep the decoder alive until after the measurement.
  if (decoder.position < 0) console.log('unreachable')
  return {
    instance,
    outcome,
    bytesFed: decoder.position || fed,
    heldMiB: Math.round((held / 2 ** 20) * 10) / 10,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    slowestChunkMs: Math.round(slowestChunkMs * 10) / 10,
    peakRssMiB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
  }
}

function main() {
  const args = process.argv.slice(2)
  const child = args.indexOf('--child')
  if (child !== -1) {
    console.log(JSON.stringify(measure(args[child + 1])))
    return
  }

  const pick = args.indexOf('--instance')
  const wanted = pick === -1 || args[pick + 1] === 'all' ? INSTANCES : [args[pick + 1]]
  const results = wanted.map((instance) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '--max-old-space-size=4096',
          __filename,
          '--child',
          instance,
          ...(args.includes('--server') ? ['--server'] : []),
        ],
        {
          encoding: 'utf8',
          env: {...process.env, ISS_DIST: dist},
          maxBuffer: 1024 * 1024,
        },
      ),
    ),
  )
  if (args.includes('--json')) console.log(JSON.stringify(results))
  else
    for (const r of results)
      console.log(
        `${r.instance}: ${r.outcome}; fed ${r.bytesFed} bytes, decoder holds ${r.heldMiB} MiB, ` +
          `CPU ${r.cpuMs} ms (slowest 64 KiB chunk ${r.slowestChunkMs} ms), peak RSS ${r.peakRssMiB} MiB`,
      )
}

main()
