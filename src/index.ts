/**
 * The iss SDK: everything a command plugin needs, from the package's main entry
 * (`import {...} from 'image-sharing-service'`), and nothing else: protocol internals (the pickle codec,
 * frames, value classes) are not part of it. A plugin's code always runs against the host's copy of
 * this module (docs/plugins.md, section 2), so its classes, tokens and errors are the host's own.
 * Test helpers are in `image-sharing-service/testing`.
 *
 * @packageDocumentation
 */
// eslint-disable-next-line import-x/no-unassigned-import -- tsyringe's decorators need the Reflect metadata polyfill loaded first
import 'reflect-metadata'

export {SDK_VERSION} from './core/sdk-range.js'

// Client side: the base class of protocol commands and oclif's argument and flag builders, so that a
// plugin needs no oclif dependency of its own.
export {Args, Flags} from '@oclif/core'
export {
  type CommandArgs,
  type CommandFlags,
  ExitCode,
  type ItemResult,
  ProtocolCommand,
  type ProtocolRequest,
  type ProtocolRequestOptions,
  UsageError,
} from './core/protocol-command.js'

// A programmatic client, for tools and tests that talk to a server without the CLI.
export {
  ClientConnection,
  type ClientConnectionOptions,
  type ClientRequestOptions,
  type ConnectionError,
  type FileDataSink,
  isConnectionError,
  type OutgoingFileData,
} from './core/transport/client-connection.js'
export type {ByteOrder} from './core/protocol/frame-header.js'
export type {OutgoingMessage} from './core/protocol/message-writer.js'
export type {Message, Status} from './core/protocol/message.js'
export type {PickleValue} from './core/protocol/values.js'

// Server side: the handler contract, the store a handler works on, and the tokens it may inject.
export type {
  CommandHandler,
  CommandHandlerClass,
  HandlerContext,
  HandlerRequest,
  HandlerResponse,
  RequestHead,
  StreamedFileData,
} from './core/handler.js'
export type {
  CommitExpectation,
  ImageStore,
  ListOptions,
  OpenedImage,
  ReadRange,
  StoredImage,
  Upload,
} from './core/store/store.js'
// Store backends, chosen by the URL scheme of `--storage` (`"iss": {"stores": {"<scheme>": "./dist/....js"}}`).
export type {StoreBackend, StoreBackendContext, StoreOptionInfo} from './core/store/backend.js'
// Server events (`"iss": {"events": {"image.published": "./dist/....js"}}`), typed through one map.
export type {EventContext, EventSubscriber, ServerEventName, ServerEvents} from './core/events.js'
export type {ServerConfig} from './core/config.js'
export {Tokens} from './core/tokens.js'
export type {AccessGrant, AccessJudge, JudgeContext} from './core/access/policy.js'
export {type AnonymousGrant, type Scope, SCOPES} from './core/access/scope.js'

// Errors and names, shared by both ends.
export {ErrorCode, type ErrorCodeValue, errors, IssError, type IssErrorOptions, isIssError} from './core/errors.js'
export {familyOf, identityKey, type ImageFamily, validateImageName} from './core/images/names.js'
export {assertContentMatchesName, type OpenedContent, type UploadedContent} from './core/images/content-check.js'
