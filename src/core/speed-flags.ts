import {formatByteSize} from './byte-size.js'
import {sizeFlag} from './size-flag.js'
import {DEFAULT_CACHE_SIZE} from './store/fs-handle-cache.js'

/** `iss serve` flags of the read and write paths, spread into the command's flags. */
export const speedServeFlags = {
  // The file: store's cacheSize option (ISS_CACHE_SIZE is that option's variable, read by the store).
  'cache-size': sizeFlag()({
    description:
      'Memory for hot small images, served without reading the disk (each at most 1/8 of it); 0 turns it off. ' +
      'Counted in the server memory, e.g. 8MiB, 64MiB.',
    defaultHelp: async () => formatByteSize(DEFAULT_CACHE_SIZE),
  }),
}

/** The store options these flags set, when given (a backend without them refuses them only then). */
export function speedStorageOptions(flags: {readonly 'cache-size'?: number}): Record<string, number> {
  return flags['cache-size'] === undefined ? {} : {cacheSize: flags['cache-size']}
}
