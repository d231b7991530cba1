import {COST, malformedAt, type OpCursor} from './pickle-limits.js'
import {PickleTuple, type PickleValue, StreamedBytes} from './values.js'

/**
 * The only callables of the subset (DESIGN.md "The pickle subset, exactly"): recognised by name,
 * never imported, and applied here when REDUCE meets them with the arguments CPython writes for
 * bytes at protocols 0 to 2.
 */

/** A callable from the allowlist, waiting on the stack for REDUCE. */
export class GlobalRef {
  constructor(
    readonly kind: 'encode' | 'bytes' | 'bytearray',
    readonly label: string,
  ) {}
}

/** A str whose latin-1 bytes went to the sink (the argument of _codecs.encode at protocols 0 to 2). */
export class StreamedStr {
  constructor(
    readonly key: string,
    readonly length: number,
  ) {}
}

/** An argument tuple holding a streamed value: only REDUCE may take it. */
export class PendingArgs {
  constructor(readonly items: readonly Entry[]) {}
}

/** Anything the decoder's stack can hold. */
export type Entry = PickleValue | GlobalRef | StreamedStr | PendingArgs

const ALLOWED_GLOBALS = new Map<string, GlobalRef['kind']>([
  ['_codecs\nencode', 'encode'],
  ['builtins\nbytes', 'bytes'],
  ['__builtin__\nbytes', 'bytes'],
  ['builtins\nbytearray', 'bytearray'],
  ['__builtin__\nbytearray', 'bytearray'],
])

export function isStreamed(value: Entry): boolean {
  return value instanceof StreamedBytes || value instanceof StreamedStr || value instanceof PendingArgs
}

/** The Python type name of an entry, for error messages. */
export function typeName(value: Entry): string {
  if (value === null) return 'None'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'bigint') return 'int'
  if (typeof value === 'number') return 'float'
  if (typeof value === 'string') return 'str'
  if (Buffer.isBuffer(value)) return 'bytes'
  if (Array.isArray(value)) return 'list'
  if (value instanceof Map) return 'dict'
  if (value instanceof PickleTuple) return 'tuple'
  if (value instanceof GlobalRef) return value.label
  return 'streamed value'
}

/** Printable, bounded form of text from the peer, for error messages. */
export function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replaceAll(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return clean.length > 80 ? `${clean.slice(0, 80)}...` : clean
}

/** The callable a GLOBAL or STACK_GLOBAL names, or a refusal naming it. */
export function allowedGlobal(module: string, name: string, opcode: string, cursor: OpCursor): GlobalRef {
  const label = `${shown(module)}.${shown(name)}`
  const kind = ALLOWED_GLOBALS.get(`${module}\n${name}`)
  if (kind === undefined) throw malformedAt(cursor, `refused global ${label}`, `${opcode} ${label}`)
  return new GlobalRef(kind, label)
}

/** What REDUCE leaves on the stack: the entry, its size (for memo references) and what it costs as a new value. */
export interface Reduced {
  entry: Entry
  size: number
  /** Heap bytes of the new value; null when it is a streamed value's stand-in (not counted). */
  cost: number | null
}

/** The only calls: _codecs.encode(str, 'latin1') and bytes/bytearray() or (bytes). */
export function applyReduce(callable: Entry, args: Entry, cursor: OpCursor): Reduced {
  if (!(callable instanceof GlobalRef))
    throw malformedAt(cursor, `refused opcode REDUCE on a ${typeName(callable)}`, 'REDUCE')
  const items = args instanceof PickleTuple || args instanceof PendingArgs ? args.items : undefined
  if (items === undefined)
    throw malformedAt(cursor, `REDUCE of ${callable.label} with a ${typeName(args)} argument`, 'REDUCE')
  const shape = `${callable.label}(${items.map((item) => typeName(item)).join(', ')})`
  if (callable.kind === 'encode') {
    const [text, codec] = items
    if (items.length === 2 && typeof codec === 'string' && codec !== 'latin1')
      throw malformedAt(cursor, `refused ${callable.label} with codec '${shown(codec)}'`, 'REDUCE')
    if (items.length !== 2 || codec !== 'latin1') throw malformedAt(cursor, `refused ${shape}`, 'REDUCE')
    if (text instanceof StreamedStr) return {entry: new StreamedBytes(text.key, text.length), size: 0, cost: null}
    if (typeof text !== 'string') throw malformedAt(cursor, `refused ${shape}`, 'REDUCE')
    // eslint-disable-next-line no-control-regex
    if (/[^\u0000-\u00ff]/.test(text))
      throw malformedAt(cursor, "_codecs.encode(str, 'latin1') of a code point above 0xFF", 'REDUCE')
    const bytes = Buffer.from(text, 'latin1')
    const size = COST.slot + COST.bytes + bytes.length
    return {entry: bytes, size, cost: size}
  }

  if (items.length === 0) return {entry: Buffer.alloc(0), size: COST.slot + COST.bytes, cost: COST.slot + COST.bytes}
  const [source] = items
  if (items.length !== 1 || !(Buffer.isBuffer(source) || source instanceof StreamedBytes))
    throw malformedAt(cursor, `refused ${shape}`, 'REDUCE')
  // bytes(b) and bytearray(b) hand back the same Buffer: only a stack slot is new.
  if (source instanceof StreamedBytes) return {entry: source, size: 0, cost: COST.slot}
  return {entry: source, size: COST.slot + COST.bytes + source.length, cost: COST.slot}
}
