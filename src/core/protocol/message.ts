import {errors} from '../errors.js'
import {type PickleDict, type PickleValue, StreamedBytes} from './values.js'

/** The STATUS values of the seed protocol. */
export type Status = 'REQUEST' | 'OK' | 'ERROR'
export const STATUSES: readonly Status[] = ['REQUEST', 'OK', 'ERROR']

/** The five keys every seed message has, in the order the seed writes them. */
export const SEED_KEYS = ['COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'FILE_DATA'] as const

/** The key under which a bytes value is streamed rather than held. */
export const FILE_DATA = 'FILE_DATA'

/** The extension handshake's version; iss clients send VERSION = 1 in every request. */
export const PROTOCOL_VERSION = 1

/** A validated message. Missing keys read as null; keys the core does not know are kept in `extra`. */
export interface Message {
  COMMAND: string | null
  /** Normally REQUEST, OK or ERROR; any other str is kept so that it can be refused by name. */
  STATUS: string | null
  DETAILS: string | string[] | null
  FILENAME: string | null
  /** Buffer when small and held, StreamedBytes when it went to a sink, null when absent. */
  FILE_DATA: Buffer | StreamedBytes | null
  /** Extension: VERSION (int) in iss requests. */
  VERSION: number | null
  /** Extension: the error code in ERROR responses to VERSION requests. */
  CODE: string | null
  /** Extension: the commands a server serves, sent with E_UNKNOWN_COMMAND. */
  COMMANDS: string[] | null
  /**
   * Extension: the request's TOKEN (str), when it comes before FILE_DATA (in the request head, where
   * access is judged); null when absent or sent after FILE_DATA. Also kept in `extra`.
   */
  TOKEN?: string | null
  /** True when a TOKEN key follows FILE_DATA: it does not count, and a refusal names the key-order rule. */
  tokenAfterData?: boolean
  /** Every other key, untouched. */
  extra: Map<string, PickleValue>
}

function typeName(value: PickleValue | undefined): string {
  if (value === null || value === undefined) return 'None'
  if (typeof value === 'string') return 'str'
  if (typeof value === 'bigint') return 'int'
  if (typeof value === 'number') return 'float'
  if (typeof value === 'boolean') return 'bool'
  if (Buffer.isBuffer(value) || value instanceof StreamedBytes) return 'bytes'
  if (Array.isArray(value)) return 'list'
  if (value instanceof Map) return 'dict'
  return 'tuple'
}

function wrongType(key: string, expected: string, value: PickleValue | undefined) {
  return errors.malformed(`${key} must be ${expected}, not ${typeName(value)}`, {fatal: false})
}

function optionalString(dict: PickleDict, key: string): string | null {
  const value = dict.get(key)
  if (value === undefined || value === null) return null
  if (typeof value !== 'string') throw wrongType(key, 'a str or None', value)
  return value
}

function optionalStringList(dict: PickleDict, key: string): string[] | null {
  const value = dict.get(key)
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
    throw wrongType(key, 'a list of str or None', value)
  return value as string[]
}

/**
 * Checks the types of a decoded top-level dict and returns it as a Message.
 * A wrong type is an E_MALFORMED IssError that does not close the connection (the frame was whole).
 */
export function toMessage(dict: PickleDict): Message {
  for (const key of dict.keys()) {
    if (typeof key !== 'string') throw errors.malformed(`message keys must be str, not int`, {fatal: false})
  }

  // Any str is kept: the server answers E_BAD_STATUS for one that is not REQUEST, naming it.
  const status = optionalString(dict, 'STATUS')

  const details = dict.get('DETAILS')
  let DETAILS: string | string[] | null = null
  if (typeof details === 'string') DETAILS = details
  else if (details !== undefined && details !== null) {
    DETAILS = optionalStringList(dict, 'DETAILS')
  }

  const fileData = dict.get('FILE_DATA')
  let payload: Buffer | StreamedBytes | null = null
  if (Buffer.isBuffer(fileData) || fileData instanceof StreamedBytes) payload = fileData
  else if (fileData !== undefined && fileData !== null) throw wrongType('FILE_DATA', 'bytes or None', fileData)

  const version = dict.get('VERSION')
  let VERSION: number | null = null
  if (typeof version === 'bigint') VERSION = Number(version)
  else if (version !== undefined && version !== null) throw wrongType('VERSION', 'an int or None', version)

  const extra = new Map<string, PickleValue>()
  for (const [key, value] of dict) {
    if (![...SEED_KEYS, 'VERSION', 'CODE', 'COMMANDS'].includes(key as string)) extra.set(key as string, value)
  }

  const token = optionalString(dict, 'TOKEN')
  const keys = [...dict.keys()]
  const tokenAfterData = token !== null && dict.has(FILE_DATA) && keys.indexOf('TOKEN') > keys.indexOf(FILE_DATA)

  return {
    TOKEN: tokenAfterData ? null : token,
    tokenAfterData,
    COMMAND: optionalString(dict, 'COMMAND'),
    STATUS: status,
    DETAILS,
    FILENAME: optionalString(dict, 'FILENAME'),
    FILE_DATA: payload,
    VERSION,
    CODE: optionalString(dict, 'CODE'),
    COMMANDS: optionalStringList(dict, 'COMMANDS'),
    extra,
  }
}
