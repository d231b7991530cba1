import {fileURLToPath} from 'node:url'

import {parseByteSize} from '../byte-size.js'
import {DEFAULT_MIN_FREE} from '../config.js'
import type {StoreBackend, StoreBackendContext} from './backend.js'
import {DEFAULT_CACHE_SIZE, defaultOpenHandles} from './fs-handle-cache.js'
import {FsStore} from './fs-store.js'

/** The option's value from the URL or a flag, else from its environment variable. */
function option(context: StoreBackendContext, name: string): string | undefined {
  return context.options[name] ?? (fsBackend.options[name].env ? context.env[fsBackend.options[name].env] : undefined)
}

function parseBoolean(name: string, text: string): boolean {
  if (/^(true|1|yes|on)$/iu.test(text)) return true
  if (/^(false|0|no|off)$/iu.test(text)) return false
  throw new RangeError(`storage option ${name}=${text} must be true or false`)
}

/** The filesystem store: `--storage /srv/images` or `file:///srv/images?minFree=1GiB&fsync=false`. */
const fsBackend: StoreBackend = {
  description:
    'images as files in one folder: a path, or file:///path?minFree=64MiB&fsync=true&cacheSize=8MiB ' +
    '(--min-free, --no-fsync and --cache-size set the same options)',
  options: {
    minFree: {
      description: 'disk space to keep free; a PUT that would use it answers E_NO_SPACE',
      env: 'ISS_SERVE_MIN_FREE',
    },
    fsync: {
      description: 'fsync each image before answering OK (false is UNSAFE; benchmarks only)',
      env: 'ISS_FS_FSYNC',
    },
    cacheSize: {
      description: 'bytes of hot small images kept in memory (0: none)',
      env: 'ISS_CACHE_SIZE',
    },
  },
  create(context) {
    if (context.url.host !== '' && context.url.host !== 'localhost') {
      throw new RangeError(`a file: storage URL names a folder on this machine, not on host '${context.url.host}'`)
    }

    const minFreeText = option(context, 'minFree')
    const fsyncText = option(context, 'fsync')
    const cacheSizeText = option(context, 'cacheSize')
    const minFree = minFreeText === undefined ? DEFAULT_MIN_FREE : parseByteSize(minFreeText)
    const cacheBytes = cacheSizeText === undefined ? DEFAULT_CACHE_SIZE : parseByteSize(cacheSizeText)
    const fsync = fsyncText === undefined ? true : parseBoolean('fsync', fsyncText)
    if (!fsync) context.logger.warn('fsync is off: images are not flushed to disk before OK; a crash can lose them')
    return new FsStore({
      root: fileURLToPath(context.url),
      minFree,
      fsync,
      maxSize: context.maxSize,
      logger: context.logger,
      openHandles: defaultOpenHandles(),
      cacheBytes,
    })
  },
}

export default fsBackend
