import Module from 'node:module'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

/** The package name plugins import the SDK by. */
export const SDK_PACKAGE = 'image-sharing-service'

/** This host's own SDK entry points (dist/src/...), as package.json "exports" names them. */
const HOST_ENTRIES: Readonly<Record<string, string>> = {
  [SDK_PACKAGE]: join(__dirname, '..', 'index.js'),
  [`${SDK_PACKAGE}/testing`]: join(__dirname, '..', 'testing.js'),
  [`${SDK_PACKAGE}/register`]: join(__dirname, 'register-host-resolution.js'),
}

let installed = false

/**
 * Makes `require('image-sharing-service')` and `import 'image-sharing-service'` from any plugin resolve
 * to this host's own copy. An installed plugin has no copy of its own (its peer dependency is optional,
 * so npm does not pull a second CLI into the data directory), and a linked one may have a dev copy:
 * either way there is one core, one set of classes and one DI registry at run time.
 */
export function installHostResolution(): void {
  if (installed) return
  installed = true
  const hostPath = (request: string): string | undefined =>
    Object.hasOwn(HOST_ENTRIES, request) ? HOST_ENTRIES[request] : undefined

  // Node >= 22.15 has in-thread hooks that cover require and import alike.
  // eslint-disable-next-line n/no-unsupported-features/node-builtins -- feature-detected just below, with a fallback
  const registerHooks = (Module as unknown as {registerHooks?: (hooks: object) => unknown}).registerHooks
  if (typeof registerHooks === 'function') {
    registerHooks({
      resolve(specifier: string, context: unknown, nextResolve: (s: string, c: unknown) => unknown) {
        const path = hostPath(specifier)
        return path === undefined
          ? nextResolve(specifier, context)
          : {url: pathToFileURL(path).href, format: 'commonjs', shortCircuit: true}
      },
    })
    return
  }

  // Older Node 22: CommonJS resolution is enough, the SDK and plugins built with it are CommonJS.
  const internal = Module as unknown as {_resolveFilename: (request: string, ...rest: unknown[]) => string}
  const original = internal._resolveFilename
  internal._resolveFilename = function (request: string, ...rest: unknown[]) {
    return hostPath(request) ?? original.call(this, request, ...rest)
  }
}
