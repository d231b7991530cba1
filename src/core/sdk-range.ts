import {satisfies, validRange} from 'semver'

/**
 * The version of the SDK this host implements (the `iss` package's handler, store and event
 * contracts). Its major goes up whenever a plugin built for the previous one could break: 2 when
 * handlers gained the request head before any byte is stored. Exported from the SDK as SDK_VERSION.
 */
export const SDK_VERSION = '2.0.0'

/** What the check needs of a plugin: its npm name and package.json. */
export interface SdkPlugin {
  readonly name: string
  readonly pjson: {readonly iss?: unknown}
}

/**
 * Why `plugin` cannot run on this host, as one line naming both versions and the command that
 * removes it; null when it can (or when it declares nothing for iss). A plugin declares the semver
 * range of SDK versions it supports as `"iss": {"sdk": "^2.0.0"}`.
 */
export function sdkRefusal(plugin: SdkPlugin, bin = 'iss'): string | null {
  const iss = plugin.pjson.iss
  if (iss === undefined || typeof iss !== 'object' || iss === null) return null
  const {sdk, sdkApi} = iss as {sdk?: unknown; sdkApi?: unknown}
  const remove = `remove it with: ${bin} plugins uninstall ${plugin.name}`
  if (sdk === undefined && sdkApi !== undefined) {
    return (
      `Plugin '${plugin.name}' was built for iss SDK ${JSON.stringify(sdkApi)} (it declares "sdkApi"), but this iss implements ` +
      `SDK ${SDK_VERSION}; a plugin for it declares "iss": {"sdk": "^${SDK_VERSION}"}. Update the plugin or ${remove}`
    )
  }

  if (typeof sdk !== 'string' || validRange(sdk) === null) {
    const shown =
      sdk === undefined ? 'no SDK range' : `the SDK range ${JSON.stringify(sdk)}, which is not a semver range`
    return (
      `Plugin '${plugin.name}' declares ${shown}; this iss implements SDK ${SDK_VERSION} and needs ` +
      `"iss": {"sdk": "^${SDK_VERSION}"} or another range that includes it. Fix the plugin or ${remove}`
    )
  }

  if (!satisfies(SDK_VERSION, sdk)) {
    return (
      `Plugin '${plugin.name}' supports iss SDK ${sdk}, but this iss implements SDK ${SDK_VERSION}; ` +
      `install a version of the plugin built for SDK ${SDK_VERSION} or ${remove}`
    )
  }

  return null
}
