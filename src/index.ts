/**
 * The iss SDK: everything a command plugin needs, from the package's main entry
 * (`import {...} from 'image-sharing-service'`). A plugin's code always runs against the host's
 * copy of this module (see docs/plugins.md), so its classes, tokens and errors are the host's own.
 */
// eslint-disable-next-line import-x/no-unassigned-import -- tsyringe's decorators need the Reflect metadata polyfill loaded first
import 'reflect-metadata'

/**
 * The SDK version this host implements (semver); a plugin declares the range it supports in
 * `"iss": {"sdk": "^2.0.0"}` and is refused, at install and at start, by a host outside it.
 */
export {SDK_VERSION} from './core/sdk-range.js'

// Client side: the base class of protocol commands and oclif's argument and flag builders, so that a
// plugin needs no oclif dependency of its own.
export {Args, Flags} from '@oclif/core'
export {
  type CommandArgs,
  type CommandFlags,
  ExitCode,
  ProtocolCommand,
  type ProtocolRequest,
  type ProtocolRequestOptions,
  UnsupportedCommandError,
  UsageError,
} from './core/protocol-command.js'

// A programmatic client, for tools and tests that talk to a server without the CLI.
export {
  ClientConnection,
  type ClientConnectionOptions,
  ConnectionError,
  isConnectionError,
} from './core/transport/client-connection.js'
export type {OutgoingMessage} from './core/protocol/message-writer.js'

// Server side: the handler contract, the store a handler works on, and the tokens it may inject.
export type {
  CommandHandler,
  CommandHandlerClass,
  HandlerContext,
  HandlerRequest,
  HandlerResponse,
  StreamedFileData,
} from './core/handler.js'
export type {CommitExpectation, ImageStore, OpenedImage, ReadRange, StoredImage, Upload} from './core/store/store.js'
// Store backends, chosen by the URL scheme of `--storage` (`"iss": {"stores": {"<scheme>": "./dist/....js"}}`).
export type {StoreBackend, StoreBackendContext, StoreOptionInfo} from './core/store/backend.js'
// Server events (`"iss": {"events": {"image.published": "./dist/....js"}}`), typed through one map.
export {
  type EventContext,
  type EventSubscriber,
  SERVER_EVENT_NAMES,
  type ServerEventName,
  type ServerEvents,
} from './core/events.js'
export type {ServerConfig} from './core/config.js'
export {Tokens} from './core/tokens.js'
export type {AccessGrant, AccessJudge, JudgeContext} from './core/access/policy.js'
export {type AnonymousGrant, type Scope, SCOPES} from './core/access/scope.js'

// Messages, errors and names, shared by both ends.
export {ERROR_CODE_SUMMARY, ErrorCode, type ErrorCodeValue, errors, IssError, isIssError} from './core/errors.js'
export {FILE_DATA, type Message, PROTOCOL_VERSION, SEED_KEYS, STATUSES, type Status} from './core/protocol/message.js'
export {type PickleDict, type PickleValue, PickleTuple, StreamedBytes} from './core/protocol/values.js'
export {familyOf, identityKey, type ImageFamily, validateImageName} from './core/images/names.js'
export {assertContentMatchesName, type OpenedContent, type UploadedContent} from './core/images/content-check.js'
