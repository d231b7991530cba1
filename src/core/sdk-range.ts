import {satisfies, validRange} from 'semver'

/**
 * The version of the SDK this host implements (the `iss` package's handler, store and event
 * contracts), as semver. Its major goes up whenever a plugin built for the previous one could
 * break: 2 when handlers gained the request head before any byte is stored. Its minor goes up when
 * something is added that older plugins need not know: 2.1 added scopes in handler declarations,
 * `ImageStore.rename`, `assertContentMatchesName` and the plugin scaffold. Exported from the SDK as
 * SDK_VERSION; a plugin declares the range it supports, `"iss": {"sdk": "^2.1.0"}`.
 */
export const SDK_VERSION = '2.1.0'

/** What the check needs of a plugin: its npm name and package.json. */
export interface SdkPlugin {
  readonly name: string
  readonly pjson: {readonly iss?: unknown}
}

/** Why a plugin cannot run on this host: what is wrong, naming both versions, and what the plugin needs. */
export interface SdkMismatch {
  readonly problem: string
  /** What a fixed plugin would declare or be built for. */
  readonly needs: string
}

/**
 * Why `plugin` cannot run on this host; null when it can, or when it declares nothing for iss. A
 * plugin declares the semver range of SDK versions it supports as `"iss": {"sdk": "^2.0.0"}`; the
 * SDK 1 key `"sdkApi"` is refused as built for SDK 1.
 */
export function sdkMismatch(plugin: SdkPlugin): SdkMismatch | null {
  const iss = plugin.pjson.iss
  if (iss === undefined || typeof iss !== 'object' || iss === null) return null
  const {sdk, sdkApi} = iss as {sdk?: unknown; sdkApi?: unknown}
  const needs = `a version of the plugin that declares "iss": {"sdk": "^${SDK_VERSION}"}`
  if (sdk === undefined && sdkApi !== undefined) {
    return {
      problem:
        `Plugin '${plugin.name}' was built for iss SDK ${JSON.stringify(sdkApi)} (it declares "sdkApi"), ` +
        `but this iss implements SDK ${SDK_VERSION}`,
      needs,
    }
  }

  if (typeof sdk !== 'string' || validRange(sdk) === null) {
    const shown =
      sdk === undefined ? 'no SDK range' : `the SDK range ${JSON.stringify(sdk)}, which is not a semver range`
    return {problem: `Plugin '${plugin.name}' declares ${shown}; this iss implements SDK ${SDK_VERSION}`, needs}
  }

  if (!satisfies(SDK_VERSION, sdk)) {
    return {
      problem: `Plugin '${plugin.name}' supports iss SDK ${sdk}, but this iss implements SDK ${SDK_VERSION}`,
      needs,
    }
  }

  return null
}

/** The one line `iss serve` prints when it skips `plugin`, or null when the plugin can run. */
export function sdkRefusal(plugin: SdkPlugin, bin = 'iss'): string | null {
  const mismatch = sdkMismatch(plugin)
  if (mismatch === null) return null
  return `${mismatch.problem}; install ${mismatch.needs}, or remove it with: ${bin} plugins uninstall ${plugin.name}`
}
