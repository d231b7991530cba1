import {
  allowedGlobal,
  applyReduce,
  type Entry,
  GlobalRef,
  isStreamed,
  PendingArgs,
  shown,
  type StreamedStr,
  typeName,
} from './pickle-globals.js'
import {COST, type CostMeter, malformedAt, type OpCursor, type PickleError, tooLargeAt} from './pickle-limits.js'
import {Op, opName} from './opcodes.js'
import {type PickleDict, PickleTuple, type PickleValue, StreamedBytes} from './values.js'

// Room above maxDepth for open MARKs: the top-level dict's and the bytes wrappers' (bytearray, encode).
const MARK_SLACK = 4

/** Where a value about to be read goes when it may be streamed (see PickleMachine.streamPlace). */
export interface StreamPlace {
  key: string
  keyIndex: number
  ambiguous: boolean
}

/**
 * What the machine knows of a container: its size (its own cost plus its items', memo references
 * counted in full) and its nesting depth. Shared by its stack slot and its memo entry, so that a
 * container memoized empty and filled afterwards (as CPython writes lists and dicts) is charged in full
 * when a reference repeats it.
 */
class Box {
  constructor(
    public size: number,
    public depth: number,
  ) {}
}

type Info = number | Box

function sizeOf(info: Info): number {
  return typeof info === 'number' ? info : info.size
}

function depthOf(info: Info): number {
  return typeof info === 'number' ? 0 : info.depth
}

interface MachineLimits {
  maxDepth: number
  maxItems: number
}

/**
 * The pickle virtual machine: the stack, MARKs, the memo and the containers being built, fed one
 * opcode at a time by the tokenizer. Every value it makes is charged to the CostMeter at its heap cost;
 * each stack entry carries its size (its own cost plus its items') so that a memo reference is charged
 * again in full. It also decides where a value may be streamed: only as the value of a stream key
 * in the top-level dict.
 */
export class PickleMachine {
  private readonly stack: Entry[] = []
  /** Per stack entry: its size, or for a container its Box (which grows while the container is built). */
  private readonly sizes: Info[] = []
  private readonly marks: number[] = []
  private readonly memo = new Map<number, {value: Entry; info: Info}>()
  /**
   * Lists and dicts a memo reference has handed out: they never change again. That is how CPython's
   * output behaves, and it rules out cycles: a container can only come to hold itself through a memo
   * reference to it followed by an append or setitem on it.
   */
  private readonly frozen = new Set<object>()
  private root?: PickleDict
  private readonly streamed = new Set<string>()
  private placed = 0
  private stopped = false
  private value: PickleValue = null

  constructor(
    private readonly limits: MachineLimits,
    private readonly streamKeys: ReadonlySet<string>,
    private readonly meter: CostMeter,
    private readonly cursor: OpCursor,
  ) {}

  /** STOP was executed: `result` is the pickle's value. */
  get done(): boolean {
    return this.stopped
  }

  get result(): PickleValue {
    return this.value
  }

  private malformed(why: string, opcode?: string): PickleError {
    return malformedAt(this.cursor, why, opcode)
  }

  // ---- values from the tokenizer

  /** A new value costing `cost` heap bytes (its stack slot included). */
  pushNew(value: Entry, cost: number): void {
    this.meter.value(cost)
    this.push(value, cost)
  }

  /** A value charged when its bytes were announced (length-prefixed data). */
  pushCharged(value: PickleValue, size: number): void {
    this.push(value, size)
  }

  /** A streamed value's stand-in: no heap of note, no count. */
  pushStreamed(entry: StreamedBytes | StreamedStr): void {
    this.push(entry, 0)
  }

  pushGlobal(module: string, name: string, opcode: 'GLOBAL' | 'STACK_GLOBAL'): void {
    const ref = allowedGlobal(module, name, opcode, this.cursor)
    this.pushNew(ref, COST.slot + COST.global)
  }

  // ---- streaming

  /**
   * Where the value about to be read goes, when that may be the value of a stream key in the
   * top-level dict: directly, or inside the bytes wrappers CPython writes ([bytearray (] [_codecs.encode (]).
   * Ambiguous when the value before the key is a dict that can still take items: in
   * [root, MARK, k, {..}, 'FILE_DATA', value] the next opcode may be SETITEM into that dict.
   */
  streamPlace(payload: 'bytes' | 'str'): StreamPlace | null {
    const root = this.root
    if (root === undefined || this.streamKeys.size === 0) return null
    const {stack, marks} = this
    let j = stack.length
    let m = marks.length - 1
    const wrappers: GlobalRef[] = []
    for (;;) {
      const markHere = m >= 0 && marks[m] === j
      const below = j > 0 ? stack[j - 1] : undefined
      if (below instanceof GlobalRef && wrappers.length < 2) {
        if (markHere) m--
        wrappers.push(below)
        j--
        continue
      }

      if (markHere) return null
      break
    }

    const [inner, outer] = wrappers
    const wants = inner?.kind === 'encode' ? 'str' : 'bytes'
    if (wants !== payload) return null
    if (outer !== undefined && (outer.kind === 'encode' || inner.kind !== 'encode')) return null
    const keyIndex = j - 1
    const key = stack[keyIndex]
    if (typeof key !== 'string' || !this.streamKeys.has(key) || stack[0] !== root) return null
    // SETITEM form: [root, key]; SETITEMS form: [root, MARK, k, v, ..., key].
    const inSetItem = m === -1 && keyIndex === 1
    const inSetItems = m === 0 && marks[0] === 1 && (keyIndex - 1) % 2 === 0
    if (!inSetItem && !inSetItems) return null
    const before = stack[keyIndex - 1]
    const ambiguous = keyIndex > 1 && before instanceof Map && !this.frozen.has(before)
    return {key, keyIndex, ambiguous}
  }

  /**
   * The stream at `place` begins: refuses a duplicate key, and returns the request head, the
   * top-level items set so far plus the key/value pairs waiting for SETITEMS below the key.
   */
  openStream({key, keyIndex}: StreamPlace): PickleDict {
    const pending = this.stack.slice(1, keyIndex).some((entry, k) => k % 2 === 0 && entry === key)
    if (pending || this.streamed.has(key) || this.root!.has(key))
      throw this.malformed(`duplicate dict key '${shown(key)}'`)
    this.streamed.add(key)
    const head: PickleDict = new Map(this.root)
    for (let k = 1; k + 1 < keyIndex; k += 2) {
      const headKey = this.stack[k]
      const value = this.stack[k + 1]
      if (typeof headKey === 'string' && !(value instanceof GlobalRef || isStreamed(value)))
        head.set(headKey, value as PickleValue)
    }

    this.meter.charge(COST.dict + COST.dictEntry * head.size)
    return head
  }

  // ---- the memo

  memoPut(index: number): void {
    if (this.stack.length <= this.floor()) throw this.malformed(`${opName(this.cursor.op)} on an empty stack`)
    if (!this.memo.has(index)) {
      if (this.memo.size >= this.limits.maxItems)
        throw tooLargeAt(this.cursor, 'The memo (entries)', this.memo.size + 1, this.limits.maxItems)
      this.meter.charge(COST.memo)
    }

    this.memo.set(index, {value: this.stack.at(-1)!, info: this.sizes.at(-1)!})
  }

  memoGet(index: number): void {
    const entry = this.memo.get(index)
    if (entry === undefined) throw this.malformed(`memo key ${index} not found`)
    const {value} = entry
    if (isStreamed(value)) throw this.malformed('a memo reference to a streamed value')
    if ((Array.isArray(value) || value instanceof Map) && !this.frozen.has(value)) {
      this.frozen.add(value)
      this.meter.charge(COST.frozen)
    }

    // Charged as a copy: whoever walks the result meets the value again.
    this.meter.reference(sizeOf(entry.info))
    this.push(value, entry.info)
  }

  // ---- opcodes without arguments

  execute(code: number): void {
    switch (code) {
      case Op.STOP: {
        this.stop()
        break
      }

      case Op.MARK: {
        if (this.marks.length >= this.limits.maxDepth + MARK_SLACK)
          throw this.malformed(`more than ${this.limits.maxDepth + MARK_SLACK} MARKs open (nesting too deep)`)
        this.marks.push(this.stack.length)
        break
      }

      case Op.POP: {
        if (this.stack.length > this.floor()) this.discard(this.popEntries(1))
        else if (this.marks.length > 0) this.marks.pop()
        else throw this.malformed('POP on an empty stack')
        break
      }

      case Op.POP_MARK: {
        this.discard(this.popMark())
        break
      }

      case Op.NONE: {
        this.pushNew(null, COST.slot)
        break
      }

      case Op.NEWTRUE:
      case Op.NEWFALSE: {
        this.pushNew(code === Op.NEWTRUE, COST.slot)
        break
      }

      case Op.EMPTY_TUPLE: {
        this.pushTuple([], [])
        break
      }

      case Op.TUPLE: {
        const {entries, sizes} = this.popMark()
        this.pushTuple(entries, sizes)
        break
      }

      case Op.TUPLE1:
      case Op.TUPLE2:
      case Op.TUPLE3: {
        const {entries, sizes} = this.popEntries(code - Op.TUPLE1 + 1)
        this.pushTuple(entries, sizes)
        break
      }

      case Op.EMPTY_LIST: {
        this.pushContainer([], COST.list)
        break
      }

      case Op.LIST: {
        const {entries, sizes} = this.popMark()
        const list: PickleValue[] = []
        const box = this.pushContainer(list, COST.list)
        this.appendTo(list, box, entries, sizes)
        break
      }

      case Op.EMPTY_DICT:
      case Op.DICT: {
        const {entries, sizes} = code === Op.DICT ? this.popMark() : {entries: [], sizes: []}
        const dict: PickleDict = new Map()
        if (this.stack.length === 0 && this.marks.length === 0 && this.root === undefined) this.root = dict
        const box = this.pushContainer(dict, COST.dict)
        if (code === Op.DICT) this.setItems(dict, box, entries, sizes)
        break
      }

      case Op.APPEND: {
        const {entries, sizes} = this.popEntries(1)
        this.appendTo(this.target('list'), this.topBox(), entries, sizes)
        break
      }

      case Op.APPENDS: {
        const {entries, sizes} = this.popMark()
        this.appendTo(this.target('list'), this.topBox(), entries, sizes)
        break
      }

      case Op.SETITEM: {
        const {entries, sizes} = this.popEntries(2)
        this.setItems(this.target('dict'), this.topBox(), entries, sizes)
        break
      }

      case Op.SETITEMS: {
        const {entries, sizes} = this.popMark()
        this.setItems(this.target('dict'), this.topBox(), entries, sizes)
        break
      }

      case Op.MEMOIZE: {
        this.memoPut(this.memo.size)
        break
      }

      case Op.STACK_GLOBAL: {
        const {entries} = this.popEntries(2)
        const [module, name] = entries
        if (typeof module !== 'string' || typeof name !== 'string')
          throw this.malformed('STACK_GLOBAL requires two str')
        this.pushGlobal(module, name, 'STACK_GLOBAL')
        break
      }

      case Op.REDUCE: {
        const {entries} = this.popEntries(2)
        const {entry, size, cost} = applyReduce(entries[0], entries[1], this.cursor)
        if (cost !== null) this.meter.value(cost)
        this.push(entry, size)
        break
      }

      default: {
        // Everything off the allowlist: BUILD, INST, OBJ, NEWOBJ(_EX), PERSID, EXT*, buffers, sets, DUP, non-opcodes.
        const name = opName(code)
        const known = !name.startsWith('unknown')
        throw this.malformed(known ? `refused opcode ${name}` : name, known ? name : `0x${code.toString(16)}`)
      }
    }
  }

  private stop(): void {
    if (this.marks.length > 0 || this.stack.length !== 1)
      throw this.malformed(`STOP with ${this.stack.length} values and ${this.marks.length} MARKs on the stack`)
    const value = this.stack[0]
    if (value instanceof GlobalRef || isStreamed(value))
      throw this.malformed(`the pickle's value is a ${typeName(value)}, outside the subset`)
    if (this.placed !== this.streamed.size || (this.streamed.size > 0 && value !== this.root))
      throw this.malformed('a streamed value did not end up in the top-level dict')
    this.value = value as PickleValue
    this.stopped = true
  }

  // ---- the stack

  private push(entry: Entry, size: Info): void {
    this.stack.push(entry)
    this.sizes.push(size)
  }

  /** Where popping must stop: the last MARK. */
  private floor(): number {
    return this.marks.at(-1) ?? 0
  }

  private popEntries(n: number): {entries: Entry[]; sizes: Info[]} {
    if (this.stack.length - n < this.floor()) throw this.malformed(`stack underflow at ${opName(this.cursor.op)}`)
    return {entries: this.stack.splice(-n, n), sizes: this.sizes.splice(-n, n)}
  }

  private popMark(): {entries: Entry[]; sizes: Info[]} {
    const mark = this.marks.pop()
    if (mark === undefined) throw this.malformed(`${opName(this.cursor.op)} without a MARK`)
    return {entries: this.stack.splice(mark), sizes: this.sizes.splice(mark)}
  }

  private discard({entries}: {entries: Entry[]}): void {
    for (const entry of entries) if (isStreamed(entry)) throw this.malformed('a streamed value was discarded')
  }

  // ---- containers

  /** The list or dict the items go into: the value below the popped ones, still being built. */
  private target(kind: 'list'): PickleValue[]
  private target(kind: 'dict'): PickleDict
  private target(kind: 'list' | 'dict'): PickleValue[] | PickleDict {
    const op = opName(this.cursor.op)
    if (this.stack.length <= this.floor()) throw this.malformed(`stack underflow at ${op}`)
    const value = this.stack.at(-1)!
    const ok = kind === 'list' ? Array.isArray(value) : value instanceof Map
    if (!ok) throw this.malformed(`${op} to a ${typeName(value)}`)
    if (this.frozen.has(value as object))
      throw this.malformed(`${op} to a ${kind} a memo reference points to (cycles are refused)`)
    return value as PickleValue[] | PickleDict
  }

  /** The Box of the container on top of the stack (target() has checked it is one). */
  private topBox(): Box {
    return this.sizes.at(-1) as Box
  }

  private pushContainer(container: PickleValue[] | PickleDict, cost: number): Box {
    const size = COST.slot + cost + COST.container
    this.meter.value(size)
    const box = new Box(size, 1)
    this.push(container, box)
    return box
  }

  /** An item going into a container: it must be plain data. */
  private place(entry: Entry): PickleValue {
    if (entry instanceof GlobalRef)
      throw this.malformed(`global ${entry.label} used other than as the callable of REDUCE`, `GLOBAL ${entry.label}`)
    if (isStreamed(entry))
      throw this.malformed('a streamed value can only be the value of its key in the top-level dict')
    return entry as PickleValue
  }

  /** `sizeIncrease` is the items' sizes plus `entryCost`, the container's own cost of holding them. */
  private grow(box: Box, sizeIncrease: number, entryCost: number, itemDepth: number): void {
    const depth = Math.max(box.depth, itemDepth + 1)
    if (depth > this.limits.maxDepth) throw this.malformed(`containers nested deeper than ${this.limits.maxDepth}`)
    box.depth = depth
    box.size += sizeIncrease + entryCost
    this.meter.charge(entryCost)
  }

  private appendTo(list: PickleValue[], box: Box, entries: Entry[], sizes: Info[]): void {
    let size = 0
    let depth = 0
    for (const [k, entry] of entries.entries()) {
      size += sizeOf(sizes[k])
      depth = Math.max(depth, depthOf(sizes[k]))
      list.push(this.place(entry))
    }

    this.grow(box, size, COST.listItem * entries.length, depth)
  }

  private setItems(dict: PickleDict, box: Box, entries: Entry[], sizes: Info[]): void {
    if (entries.length % 2 !== 0) throw this.malformed(`${opName(this.cursor.op)} with an odd number of items`)
    let size = 0
    let depth = 0
    for (let k = 0; k < entries.length; k += 2) {
      const key = entries[k]
      if (typeof key !== 'string' && typeof key !== 'bigint')
        throw this.malformed(`a dict key of type ${typeName(key)} (only str and int keys are accepted)`)
      if (dict.has(key)) throw this.malformed(`duplicate dict key ${typeof key === 'string' ? `'${shown(key)}'` : key}`)
      const value = entries[k + 1]
      if (value instanceof StreamedBytes && dict === this.root && key === value.key) {
        this.placed++
        dict.set(key, value)
        continue
      }

      size += sizeOf(sizes[k]) + sizeOf(sizes[k + 1])
      depth = Math.max(depth, depthOf(sizes[k + 1]))
      dict.set(key, this.place(value))
    }

    this.grow(box, size, (COST.dictEntry * entries.length) / 2, depth)
  }

  private pushTuple(entries: Entry[], sizes: Info[]): void {
    const own = COST.slot + COST.tuple + COST.tupleItem * entries.length
    if (entries.some((entry) => isStreamed(entry))) {
      this.meter.value(own)
      for (const entry of entries) if (!isStreamed(entry)) this.place(entry)
      this.push(new PendingArgs(entries), 0)
      return
    }

    this.meter.value(own + COST.container)
    let size = own + COST.container
    let depth = 0
    const items = entries.map((entry, k) => {
      size += sizeOf(sizes[k])
      depth = Math.max(depth, depthOf(sizes[k]))
      return this.place(entry)
    })
    if (depth + 1 > this.limits.maxDepth) throw this.malformed(`containers nested deeper than ${this.limits.maxDepth}`)
    this.push(new PickleTuple(items), new Box(size, depth + 1))
  }
}
