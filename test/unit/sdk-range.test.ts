import {expect} from 'chai'

import {SDK_VERSION, sdkMismatch, sdkRefusal} from '../../src/core/sdk-range.js'

const plugin = (iss: unknown) => ({name: 'iss-plugin-x', pjson: {iss}})

describe('plugin SDK range', () => {
  it('accepts ranges that include this SDK, and packages that declare nothing for iss', () => {
    expect(SDK_VERSION).to.equal('2.1.0')
    for (const sdk of ['^2.0.0', '2.x', '>=2.0.0 <3', '*', '~2.1.0', '^2.1.0']) {
      expect(sdkMismatch(plugin({sdk, handlers: {}})), sdk).to.equal(null)
    }

    expect(sdkMismatch({name: 'left-pad', pjson: {}})).to.equal(null)
  })

  it('refuses ranges that exclude it, naming both versions and the removal command', () => {
    for (const sdk of ['^1.0.0', '^3.0.0', '<2', '2.0.1', '~2.0.0']) {
      const line = sdkRefusal(plugin({sdk}))
      expect(line, sdk).to.contain(`supports iss SDK ${sdk}, but this iss implements SDK ${SDK_VERSION}`)
      expect(line, sdk).to.contain('remove it with: iss plugins uninstall iss-plugin-x')
    }
  })

  it('refuses a malformed range, a missing one, and SDK 1 "sdkApi", each with a line naming this SDK', () => {
    expect(sdkRefusal(plugin({sdk: 'banana'}))).to.match(/the SDK range "banana", which is not a semver range.*2\.1\.0/)
    expect(sdkRefusal(plugin({sdk: 2}))).to.match(/the SDK range 2, which is not a semver range/)
    expect(sdkRefusal(plugin({handlers: {}}))).to.match(/declares no SDK range; this iss implements SDK 2\.1\.0/)
    expect(sdkRefusal(plugin({sdkApi: '1'}))).to.match(/built for iss SDK "1" \(it declares "sdkApi"\).*SDK 2\.1\.0/)
  })
})
