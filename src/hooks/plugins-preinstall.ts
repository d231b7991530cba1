import {type Hook} from '@oclif/core'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** How long the registry may take to answer at all before `iss plugins install` says it cannot be reached. */
const REGISTRY_PROBE_MS = 10_000

/** What oclif's plugin-plugins makes of the argument, before it installs anything. */
type Target = {name: string; tag: string; type: 'npm'} | {type: 'repo'; url: string}

/**
 * Before `iss plugins install`:
 * - a local folder or .tgz (`./plugins/iss-plugin-delete`, `iss-plugin-delete-1.0.0.tgz`) is installed from
 *   disk (plugin-plugins would turn any path with a slash into a github.com URL); a local path that does not
 *   exist is refused with one line saying what to run instead;
 * - for a name from the registry, the registry is asked once, quickly: if it cannot be reached the user is
 *   told so (its address and the error) at once, instead of npm retrying for about 70 s and oclif then
 *   saying the plugin "does not exist in the registry".
 */
const hook: Hook.PluginsPreinstall = async function (options) {
  const target: Target = options.plugin
  const typed = typedArgument(target)
  if (looksLocal(typed)) {
    const home = os.homedir()
    const absolute = path.resolve(typed.replace(/^~(?=$|\/)/u, () => home))
    if (!existsSync(absolute)) {
      process.stderr.write(
        `${this.config.bin}: ${typed}: no such file or folder. Install a plugin from a folder or a .tgz made by ` +
          `\`npm pack\` that exists (from an iss checkout: ${this.config.bin} plugins install ` +
          './plugins/iss-plugin-delete), or by its name from the registry\n',
      )
      this.exit(2)
    }
    // plugin-plugins installs whatever `url` names once `type` is 'repo'; `file:` makes npm take it from disk.
    Object.assign(target, {type: 'repo', url: `file:${absolute}`})
    return
  }
  if (target.type !== 'npm') return
  const registry = this.config.npmRegistry ?? npmConfig('registry') ?? 'the npm registry'
  // npm may reach the registry through a proxy this process does not know how to use: then npm decides.
  const proxy = (process.env.HTTPS_PROXY ?? '') + (process.env.https_proxy ?? '')
  if (!/^https?:\/\//u.test(registry) || proxy !== '') return
  if (npmConfig('https-proxy') !== undefined || npmConfig('proxy') !== undefined) return
  const failure = await probe(registry, target.name)
  if (failure !== undefined) {
    process.stderr.write(
      `${this.config.bin}: the plugin registry at ${registry} could not be reached (${failure}); check the ` +
        `network, or set ${this.config.bin.toUpperCase()}_NPM_REGISTRY to a registry you can reach\n`,
    )
    this.exit(3)
  }
}

/** The argument as the user typed it, recovered from what plugin-plugins made of it. */
function typedArgument(target: Target): string {
  if (target.type === 'npm') return target.name
  const github = 'https://github.com/'
  return target.url.startsWith(github) ? target.url.slice(github.length) : target.url
}

/** A path rather than a package name or a git URL. */
function looksLocal(typed: string): boolean {
  if (/^(?:\.{1,2}(?:\/|$)|\/|~(?:\/|$))/u.test(typed)) return true
  if (/\.(?:tgz|tar\.gz)$/u.test(typed) && !typed.includes(':')) return true
  // `owner/repo` is a GitHub slug unless it is a folder here.
  return !typed.includes(':') && typed.includes('/') && !typed.startsWith('@') && existsSync(typed)
}

/** One npm setting, as npm itself resolves it (user and project .npmrc, environment); undefined when unset. */
function npmConfig(key: string): string | undefined {
  const result = spawnSync('npm', ['config', 'get', key], {encoding: 'utf8', timeout: 10_000})
  const value = result.status === 0 ? result.stdout.trim() : ''
  return ['', 'null', 'undefined'].includes(value) ? undefined : value
}

/** Undefined when the registry answered at all (any HTTP status); else the network error, e.g. ECONNREFUSED. */
async function probe(registry: string, name: string): Promise<string | undefined> {
  const url = `${registry.replace(/\/+$/u, '')}/${name.replace('/', '%2f')}`
  try {
    const response = await fetch(url, {method: 'HEAD', signal: AbortSignal.timeout(REGISTRY_PROBE_MS)})
    await response.body?.cancel()
    return undefined
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return `no answer in ${REGISTRY_PROBE_MS / 1000} s`
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    return cause?.code ?? cause?.message ?? (error as Error).message
  }
}

export default hook
