import {AsyncLocalStorage} from 'node:async_hooks'

import type {ClientConnection} from '../transport/client-connection.js'

/**
 * A lane: one of the connections of a batch sent with --parallel N. Work running inside a lane (through
 * {@link performInLanes}) opens and reuses the lane's own connection, found with {@link currentLane}, so that a
 * command's one-item code (`this.request(...)`) needs no change to run N items at once.
 */
export interface Lane {
  /** The lane's connection, opened by the first request run in it. */
  connection?: ClientConnection
  /** The item's answer or upload started to move `total` bytes (per direction), for the batch's byte count. */
  started?(total: number): void
  /** `done` of the `total` announced by the last `started`. */
  moved?(done: number): void
}

const storage = new AsyncLocalStorage<Lane>()

/** The lane the calling code runs in, or undefined outside a parallel batch. */
export function currentLane(): Lane | undefined {
  return storage.getStore()
}

/** What {@link performInLanes} reports about each item, for progress. */
export interface LaneObserver<R> {
  /** An item is about to start. */
  begin?(item: R): void
  /** An item is finished (whatever its status). */
  end?(item: R): void
  /** Bytes moved by the item in flight on a lane since the last call. */
  bytes?(delta: number): void
}

/**
 * Runs `perform` over `items` on `count` lanes (at most one item per lane at a time, each lane with its own
 * connection), taking items in order. When `perform` throws (a failure of the whole command: the connection
 * broke, the server stopped), no new item starts, the items in flight on the other lanes finish, every lane's
 * connection is closed, and the first failure is rethrown after `interrupted(item, error)` marked its item. So
 * an item is never reported complete unless it is. When `stopped()` turns true (a refusal that every later
 * item would get too), no new item starts either, and the rest stay as they are (not attempted).
 */
export async function performInLanes<R>(
  items: readonly R[],
  count: number,
  perform: (item: R) => Promise<void>,
  interrupted: (item: R, error: unknown) => void,
  observer: LaneObserver<R> = {},
  stopped: () => boolean = () => false,
): Promise<void> {
  let next = 0
  let failure: {error: unknown} | undefined
  const lanes: Lane[] = []
  const worker = async (): Promise<void> => {
    let last = 0
    const lane: Lane = {
      started() {
        last = 0
      },
      moved(done) {
        observer.bytes?.(done - last)
        last = done
      },
    }
    lanes.push(lane)
    await storage.run(lane, async () => {
      while (failure === undefined && !stopped() && next < items.length) {
        const item = items[next++]
        observer.begin?.(item)
        last = 0
        try {
          await perform(item)
        } catch (error) {
          interrupted(item, error)
          failure ??= {error}
        } finally {
          observer.end?.(item)
        }
      }
    })
  }

  try {
    await Promise.all(Array.from({length: Math.max(1, Math.min(count, items.length))}, worker))
  } finally {
    for (const lane of lanes) lane.connection?.close()
  }
  if (failure !== undefined) throw failure.error
}
