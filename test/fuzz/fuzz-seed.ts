/** The seed of a fuzz run: ISS_FUZZ_SEED if set, a fixed one under CI, else a new one each run. */
export function fuzzSeed(): number {
  const given = process.env.ISS_FUZZ_SEED
  if (given !== undefined && given !== '') return Number(given)
  if (process.env.CI) return 20_261_125 % 100_000
  return Date.now() % 100_000
}
