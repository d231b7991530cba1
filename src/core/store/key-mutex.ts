/**
 * One async critical section at a time per key, within this process. Callers of one key run in
 * arrival order; different keys never wait for each other.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>()

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    let release!: () => void
    // eslint-disable-next-line unicorn/prefer-promise-with-resolvers -- not in the es2023 lib this project targets
    const mine = new Promise<void>((resolve) => {
      release = resolve
    })
    const tail = previous.then(async () => mine)
    this.tails.set(key, tail)
    await previous
    try {
      return await task()
    } finally {
      release()
      // Forget the key once nobody queued behind us, so the map does not grow with every name ever used.
      if (this.tails.get(key) === tail) this.tails.delete(key)
    }
  }

  /** Keys with a holder or waiters (for tests). */
  get size(): number {
    return this.tails.size
  }
}
