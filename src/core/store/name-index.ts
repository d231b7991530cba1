import type {ListOptions, StoredImage} from './store.js'

/**
 * The stored images sorted by identity key, in two parallel arrays: lookups are binary searches
 * (about 21 string comparisons for 1.6 million names), a page is a slice, and the whole listing is
 * one shared frozen snapshot. Per name the index holds the name, its key (the same string when the
 * name is its own key), a small frozen StoredImage and two array slots: see docs/performance.md for
 * the measured bytes per name. Keys compare by Unicode code point, as Python's sorted() does.
 */
export class NameIndex {
  private readonly sortedKeys: string[] = []
  private readonly sortedImages: StoredImage[] = []
  /**
   * The last whole listing handed out, while someone still holds it: concurrent LISTs of an unchanged
   * store share one array instead of copying a pointer per name each.
   */
  private snapshot: WeakRef<readonly StoredImage[]> | undefined

  /** Where `key` is, or would be inserted, in the sorted arrays. */
  private position(key: string): number {
    let low = 0
    let high = this.sortedKeys.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (compareCodePoints(this.sortedKeys[middle], key) < 0) low = middle + 1
      else high = middle
    }

    return low
  }

  /** The position of `key`, or -1. */
  private find(key: string): number {
    const at = this.position(key)
    return this.sortedKeys[at] === key ? at : -1
  }

  get size(): number {
    return this.sortedKeys.length
  }

  get(key: string): StoredImage | undefined {
    const at = this.find(key)
    return at === -1 ? undefined : this.sortedImages[at]
  }

  has(key: string): boolean {
    return this.find(key) !== -1
  }

  /** Adds or replaces the entry of `key`. */
  set(key: string, image: StoredImage): void {
    this.snapshot = undefined
    const at = this.position(key)
    if (this.sortedKeys[at] === key) {
      this.sortedImages[at] = image
      return
    }

    this.sortedKeys.splice(at, 0, shared(key, image))
    this.sortedImages.splice(at, 0, image)
  }

  delete(key: string): boolean {
    const at = this.find(key)
    if (at === -1) return false
    this.snapshot = undefined
    this.sortedKeys.splice(at, 1)
    this.sortedImages.splice(at, 1)
    return true
  }

  /**
   * The images sorted by identity key: all of them (a frozen array shared with other callers while the
   * index is unchanged), or those whose key sorts after `after`, at most `limit`.
   */
  list(options: ListOptions = {}): readonly StoredImage[] {
    const {after, limit} = options
    if (after === undefined && limit === undefined) return this.whole()
    let start = 0
    if (after !== undefined) {
      start = this.position(after)
      if (this.sortedKeys[start] === after) start++
    }

    const end = limit === undefined ? this.sortedImages.length : start + Math.max(0, Math.floor(limit))
    return this.sortedImages.slice(start, end)
  }

  /** Fills an empty index in one sort, for the start-up scan. */
  load(entries: Iterable<[string, StoredImage]>): void {
    this.snapshot = undefined
    const pairs = [...entries].toSorted((a, b) => compareCodePoints(a[0], b[0]))
    for (const [key, image] of pairs) {
      this.sortedKeys.push(shared(key, image))
      this.sortedImages.push(image)
    }
  }

  private whole(): readonly StoredImage[] {
    const held = this.snapshot?.deref()
    if (held !== undefined) return held
    const copy = Object.freeze([...this.sortedImages])
    this.snapshot = new WeakRef(copy)
    return copy
  }
}

/** The key, as the name's own string when they are equal: most names are their own key, so it costs nothing. */
function shared(key: string, image: StoredImage): string {
  return key === image.name ? image.name : key
}

/** Orders strings by code point: UTF-16 order, except that astral characters sort after U+E000..U+FFFF. */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    /* eslint-disable unicorn/prefer-code-point -- UTF-16 units on purpose; rank() maps them to code point order */
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    /* eslint-enable unicorn/prefer-code-point */
    if (x !== y) return rank(x) - rank(y)
  }

  return a.length - b.length
}

/** Lifts surrogates above U+E000..U+FFFF so that UTF-16 units order like the code points they encode. */
function rank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000
  if (unit >= 0xe000) return unit - 0x800
  return unit
}
