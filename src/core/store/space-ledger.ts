import {errors} from '../errors.js'
import {freeBytes} from './disk-space.js'
import {KeyedMutex} from './key-mutex.js'

/**
 * Space promised to one upload in flight. `used` is what its sink has written so far; the part of
 * the reservation not yet written is counted against the disk's free space for every other upload.
 */
export class Reservation {
  used = 0
  private released = false

  constructor(
    private readonly ledger: SpaceLedger,
    /** Bytes promised (the announced upper bound of the upload; 0 when unknown). */
    private promised: number,
  ) {}

  /** Bytes promised (the announced upper bound of the upload; 0 when unknown). */
  get bytes(): number {
    return this.promised
  }

  /** The upload has all its bytes: promise no more than were written. */
  shrinkToUsed(): void {
    this.promised = Math.min(this.promised, this.used)
  }

  /** The floor of free bytes the ledger keeps, for messages. */
  get minFree(): number {
    return this.ledger.minFree
  }

  /** Bytes promised and not yet on disk. */
  get outstanding(): number {
    return this.released ? 0 : Math.max(0, this.bytes - this.used)
  }

  /**
   * Free bytes above the floor once every other upload's promise is kept and this upload's own
   * promise too (see {@link SpaceLedger.headroom}).
   */
  async headroom(): Promise<number> {
    return this.ledger.headroom()
  }

  /** The upload is finished (published or discarded): its bytes are on disk or gone. Idempotent. */
  release(): void {
    if (this.released) return
    this.released = true
    this.ledger.forget(this)
  }
}

/**
 * The free space of one store disk, shared by its uploads in flight. statfs alone cannot keep a
 * floor under concurrency: twenty uploads that each see room for themselves would together cross
 * it. So an upload reserves its announced size before its first byte (refused with E_NO_SPACE when
 * free space minus every outstanding reservation minus the floor cannot hold it), and an upload that
 * writes beyond its reservation (no size announced) asks for headroom as it goes.
 */
export class SpaceLedger {
  private readonly holders = new Set<Reservation>()
  /** One check at a time: a reservation made while another check awaits statfs must be seen by it. */
  private readonly checks = new KeyedMutex()

  constructor(
    /** A path on the disk to watch. */
    private readonly spacePath: () => string,
    /** Bytes to keep free. */
    readonly minFree: number,
  ) {}

  /** Bytes promised to uploads in flight and not yet written. */
  outstanding(): number {
    let total = 0
    for (const holder of this.holders) total += holder.outstanding
    return total
  }

  /**
   * Free bytes minus the floor minus every outstanding reservation. Outstanding bytes are counted
   * before statfs runs: writes that land meanwhile lower both, so the figure errs on the safe side.
   */
  async headroom(): Promise<number> {
    const promised = this.outstanding()
    return (await freeBytes(this.spacePath())) - this.minFree - promised
  }

  /** Promises `bytes` to a new upload, or throws E_NO_SPACE naming the floor. */
  async reserve(bytes: number): Promise<Reservation> {
    return this.checks.run('', async () => {
      if (bytes > 0 && (await this.headroom()) < bytes) throw errors.noSpace(bytes, this.minFree)
      const reservation = new Reservation(this, bytes)
      this.holders.add(reservation)
      return reservation
    })
  }

  /** Uploads in flight holding a reservation (for tests). */
  get size(): number {
    return this.holders.size
  }

  forget(reservation: Reservation): void {
    this.holders.delete(reservation)
  }
}
