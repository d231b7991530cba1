// Preload form of installHostResolution, for tools that load plugin code outside `iss`
// (`node --require image-sharing-service/register`, e.g. when generating a plugin's oclif manifest or running its tests).
import {installHostResolution} from './host-resolution.js'

installHostResolution()
