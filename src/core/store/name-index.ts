import type {StoredImage} from './store.js'

/**
 * The stored images by identity key, plus the same entries kept sorted by key so that a listing
 * of 100,000 names is a copy, not a sort. Keys compare by Unicode code point, as Python's sorted() does.
 */
export class NameIndex {
  private readonly byKey = new Map<string, StoredImage>()
  private readonly sortedKeys: string[] = []
  private readonly sortedImages: StoredImage[] = []

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

  get size(): number {
    return this.byKey.size
  }

  get(key: string): StoredImage | undefined {
    return this.byKey.get(key)
  }

  has(key: string): boolean {
    return this.byKey.has(key)
  }

  /** Adds or replaces the entry of `key`. */
  set(key: string, image: StoredImage): void {
    const at = this.position(key)
    if (this.byKey.has(key)) {
      this.sortedImages[at] = image
    } else {
      this.sortedKeys.splice(at, 0, key)
      this.sortedImages.splice(at, 0, image)
    }

    this.byKey.set(key, image)
  }

  delete(key: string): boolean {
    if (!this.byKey.delete(key)) return false
    const at = this.position(key)
    this.sortedKeys.splice(at, 1)
    this.sortedImages.splice(at, 1)
    return true
  }

  /** Every image, sorted by identity key. The array is the caller's; the entries are frozen. */
  list(): StoredImage[] {
    return [...this.sortedImages]
  }

  /** Fills an empty index in one sort, for the start-up scan. */
  load(entries: Iterable<[string, StoredImage]>): void {
    const pairs = [...entries].toSorted((a, b) => compareCodePoints(a[0], b[0]))
    for (const [key, image] of pairs) {
      this.byKey.set(key, image)
      this.sortedKeys.push(key)
      this.sortedImages.push(image)
    }
  }
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
