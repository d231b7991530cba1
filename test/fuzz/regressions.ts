/**
 * Inputs that once crashed, hung or over-allocated in a decoder, found by the fuzzer. Each stays
 * here for good: pickle-fuzz.test.ts and frame-fuzz.test.ts replay them through the oracle.
 */
export const REGRESSIONS: ReadonlyArray<{hex: string; why: string}> = []

/** Byte streams (frames with headers) that once broke MessageReader. */
export const FRAME_REGRESSIONS: ReadonlyArray<{hex: string; why: string}> = []
