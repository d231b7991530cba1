import {Flags} from '@oclif/core'

import {parseByteSize} from './byte-size.js'

/** The exit code of a usage error (DESIGN.md, CLI); oclif exits 1 on a flag's parse error unless told. */
const USAGE_EXIT = 2

/**
 * The one flag type for sizes, used by every command: bytes or a unit (`512MiB`, `2GiB`, `10MB`;
 * see {@link parseByteSize}), at least `min` bytes (default 0). A bad value is a usage error
 * (exit 2) naming the flag's rule.
 */
export function sizeFlag(options: {readonly min?: number} = {}) {
  return Flags.custom<number>({
    async parse(input, _context, flag) {
      const usage = (message: string) => Object.assign(new Error(message), {oclif: {exit: USAGE_EXIT}})
      let bytes: number
      try {
        bytes = parseByteSize(input)
      } catch (error) {
        throw usage((error as Error).message)
      }

      const min = options.min ?? 0
      if (bytes < min) throw usage(`--${flag.name} must be at least ${min} byte${min === 1 ? '' : 's'}`)
      return bytes
    },
  })
}
