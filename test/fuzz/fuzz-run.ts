// The fuzz loop: CPython seeds mutated, fast-check opcode programs, and framed byte streams, each
// checked by the oracle, timed, with memory sampled. Runs in its own process (the mocha test and
// scripts/fuzz-long.js spawn it), so a hang is killed from outside and --max-old-space-size applies.
// Usage: node fuzz-run.js '{"mutations":N,"grammar":N,"frames":N,"seed":S}' -> one JSON report on stdout.
import fc from 'fast-check'
import {performance} from 'node:perf_hooks'

import {cpythonCorpus} from './corpus.js'
import {pickleProgram} from './grammar.js'
import {mutate, Rng, type Seed, toSeed} from './mutators.js'
import {checkFrames, checkPickle, frame, OracleFailure, type Outcome} from './oracle.js'

export interface FuzzOptions {
  /** Mutated CPython seeds fed to the pickle decoder. */
  mutations: number
  /** fast-check opcode programs fed to the pickle decoder. */
  grammar: number
  /** Byte streams of 1 to 3 frames fed to MessageReader. */
  frames: number
  seed: number
  /** An input whose check takes longer than this (three tries) is a hang. */
  slowMs?: number
  /**
   * Time per input byte: an input whose check takes longer than slowBaseMs + its length x this (three
   * tries) is too slow for its size, even under slowMs. Catches work super-linear in the input.
   */
  slowMsPerByte?: number
  slowBaseMs?: number
  /** Bounds on the process while fuzzing, checked every 64 inputs. */
  maxHeapBytes?: number
  maxRssBytes?: number
  /** Buffers live outside the heap: --max-old-space-size does not bound them, this does. */
  maxArrayBuffersBytes?: number
  /** Stop after this many failures. */
  maxFailures?: number
}

export interface FuzzReport {
  inputs: {mutations: number; grammar: number; frames: number; total: number}
  /** Inputs that decoded to a value / were refused, by code. */
  accepted: number
  refused: Record<string, number>
  /** Distinct refusal messages (numbers blanked): a measure of how many paths the corpus reaches. */
  distinctRefusals: number
  framedMessages: number
  framedRejected: number
  maxInputMs: number
  /** The most time per byte of any input of 256 bytes or more, in microseconds. */
  maxUsPerByte: number
  slowestInputHex: string
  peakRssBytes: number
  peakHeapBytes: number
  peakArrayBuffersBytes: number
  elapsedMs: number
  failures: string[]
}

const MB = 1024 * 1024

export function runFuzz(options: FuzzOptions): FuzzReport {
  const slowMs = options.slowMs ?? 200
  const slowMsPerByte = options.slowMsPerByte ?? 0.02
  const slowBaseMs = options.slowBaseMs ?? 25
  const maxHeap = options.maxHeapBytes ?? 400 * MB
  const maxRss = options.maxRssBytes ?? 900 * MB
  const maxArrayBuffers = options.maxArrayBuffersBytes ?? 128 * MB
  const maxFailures = options.maxFailures ?? 5
  const started = performance.now()
  const rng = new Rng(options.seed)
  const corpus = cpythonCorpus()
  const seeds: Seed[] = corpus.map((entry) => toSeed(`${entry.name} p${entry.protocol}`, entry.pickle))
  const report: FuzzReport = {
    inputs: {mutations: 0, grammar: 0, frames: 0, total: 0},
    accepted: 0,
    refused: {},
    distinctRefusals: 0,
    framedMessages: 0,
    framedRejected: 0,
    maxInputMs: 0,
    maxUsPerByte: 0,
    slowestInputHex: '',
    peakRssBytes: 0,
    peakHeapBytes: 0,
    peakArrayBuffersBytes: 0,
    elapsedMs: 0,
    failures: [],
  }
  const refusals = new Set<string>()

  const sampleMemory = () => {
    const usage = process.memoryUsage()
    report.peakRssBytes = Math.max(report.peakRssBytes, usage.rss)
    report.peakHeapBytes = Math.max(report.peakHeapBytes, usage.heapUsed)
    report.peakArrayBuffersBytes = Math.max(report.peakArrayBuffersBytes, usage.arrayBuffers)
    if (usage.heapUsed > maxHeap) throw new Error(`heap ${usage.heapUsed} bytes over the bound ${maxHeap}`)
    if (usage.rss > maxRss) throw new Error(`RSS ${usage.rss} bytes over the bound ${maxRss}`)
    if (usage.arrayBuffers > maxArrayBuffers)
      throw new Error(`Buffers hold ${usage.arrayBuffers} bytes, over the bound ${maxArrayBuffers}`)
  }

  const note = (outcome: Outcome) => {
    if (outcome.kind === 'value') report.accepted++
    else {
      report.refused[outcome.code] = (report.refused[outcome.code] ?? 0) + 1
      if (refusals.size < 100_000) refusals.add(outcome.message.replaceAll(/\d+/g, 'N').slice(0, 120))
    }
  }

  /** Runs one check, timed; a slow one is tried twice more before it counts as a hang. */
  const timed = <T>(input: Buffer, check: () => T): T | undefined => {
    try {
      const budgetMs = Math.min(slowMs, slowBaseMs + input.length * slowMsPerByte)
      const t0 = performance.now()
      let result = check()
      let ms = performance.now() - t0
      if (ms > budgetMs) {
        for (let k = 0; k < 2 && ms > budgetMs; k++) {
          const t1 = performance.now()
          result = check()
          ms = Math.min(ms, performance.now() - t1)
        }

        if (ms > budgetMs)
          throw new OracleFailure(
            `took ${ms.toFixed(0)} ms for ${input.length} bytes (over ${budgetMs.toFixed(0)} ms: ${slowBaseMs} ms + ${slowMsPerByte * 1000} us per byte, at most ${slowMs} ms)`,
            input,
          )
      }

      if (input.length >= 256) report.maxUsPerByte = Math.max(report.maxUsPerByte, (ms * 1000) / input.length)

      if (ms > report.maxInputMs) {
        report.maxInputMs = ms
        report.slowestInputHex = input.toString('hex').slice(0, 400)
      }

      return result
    } catch (error) {
      report.failures.push(error instanceof OracleFailure ? error.message : `${(error as Error).stack}`)
      return undefined
    } finally {
      if (++report.inputs.total % 64 === 0) {
        try {
          sampleMemory()
        } catch (error) {
          report.failures.push(`${(error as Error).message}; last input hex: ${input.toString('hex').slice(0, 4000)}`)
        }
      }
    }
  }

  // Mutated CPython seeds (each check also uses rng for its chunking, so a run replays from its seed).
  for (let n = 0; n < options.mutations && report.failures.length < maxFailures; n++) {
    const input = mutate(rng.pick(seeds), seeds, rng)
    const outcome = timed(input, () => checkPickle(input, rng))
    if (outcome) note(outcome)
    report.inputs.mutations++
  }

  // The seeds themselves must decode (or be refused if hostile): a sanity check that the oracle sees values.
  for (const entry of corpus) {
    const outcome = timed(entry.pickle, () => checkPickle(entry.pickle, rng))
    if (outcome?.kind === 'value' && entry.kind === 'hostile')
      report.failures.push(`hostile seed ${entry.name} p${entry.protocol} decoded`)
  }

  // fast-check opcode programs, in batches; a failing batch is replayed by fc.check to shrink the input.
  const batch = 2000
  for (let done = 0; done < options.grammar && report.failures.length < maxFailures; done += batch) {
    const runs = Math.min(batch, options.grammar - done)
    const batchSeed = (options.seed * 7919 + done) | 0
    const failuresBefore = report.failures.length
    for (const input of fc.sample(pickleProgram, {seed: batchSeed, numRuns: runs})) {
      const outcome = timed(input, () => checkPickle(input, new Rng(input.length)))
      if (outcome) note(outcome)
      report.inputs.grammar++
    }

    if (report.failures.length > failuresBefore) {
      const details = fc.check(
        fc.property(pickleProgram, (input) => {
          checkPickle(input, new Rng(input.length))
        }),
        {seed: batchSeed, numRuns: runs},
      )
      if (details.failed && details.counterexample)
        report.failures.push(
          `shrunk: ${details.counterexample[0].toString('hex')} (${String(details.errorInstance).slice(0, 300)})`,
        )
    }
  }

  // Byte streams of 1 to 3 frames: seeds, mutated seeds or programs, with true or lying headers.
  const programs = fc.sample(pickleProgram, {seed: options.seed, numRuns: 500})
  for (let n = 0; n < options.frames && report.failures.length < maxFailures; n++) {
    const count = 1 + rng.int(3)
    const parts: Buffer[] = []
    for (let k = 0; k < count; k++) {
      const choice = rng.int(4)
      const seed = rng.pick(seeds)
      const pickle = choice === 0 ? seed.pickle : choice === 1 ? rng.pick(programs) : mutate(seed, seeds, rng)
      parts.push(frame(pickle, rng))
    }

    let stream: Buffer = Buffer.concat(parts)
    if (rng.chance(0.1)) stream = mutate(toSeed('stream', stream), seeds, rng)
    const result = timed(stream, () => checkFrames(stream, rng))
    if (result) {
      report.framedMessages += result.messages
      report.framedRejected += result.rejected
    }

    report.inputs.frames++
  }

  try {
    sampleMemory()
  } catch (error) {
    report.failures.push((error as Error).message)
  }

  report.distinctRefusals = refusals.size
  report.elapsedMs = Math.round(performance.now() - started)
  return report
}

if (require.main === module) {
  const options = JSON.parse(process.argv[2] ?? '{}') as FuzzOptions
  let report: FuzzReport
  try {
    report = runFuzz(options)
  } catch (error) {
    process.stdout.write(JSON.stringify({failures: [(error as Error).stack]}) + '\n')
    process.exit(1)
  }

  process.stdout.write(JSON.stringify(report) + '\n')
  process.exitCode = report.failures.length > 0 ? 1 : 0
}
