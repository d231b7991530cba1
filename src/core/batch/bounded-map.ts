/**
 * `items.map(work)` with at most `limit` calls in flight, results in order: checking ten thousand files of a
 * folder at once would open ten thousand descriptors (EMFILE).
 */
export async function mapBounded<T, U>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<U>,
): Promise<U[]> {
  const results = Array.from<U>({length: items.length})
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++

      results[index] = await work(items[index])
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}
