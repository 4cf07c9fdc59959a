/**
 * Batches written pieces into group commits so the store pays one fdatasync
 * and one state-file replacement per batch instead of per piece.
 *
 * A batch starts when `maxPending` items wait, when the oldest has waited
 * `intervalMs`, or at once while someone is flushing. Batches never overlap:
 * the state file is replaced whole, so two commits racing could publish an
 * older map last.
 */
import { performance } from 'node:perf_hooks'

export interface GroupCommitInit<T> {
  intervalMs: number
  maxPending: number
  /** Commit one batch. Settles the batch's waiters itself; a rejection is ignored here. */
  commit: (batch: T[]) => Promise<void>
}

export class GroupCommit<T> {
  readonly #init: GroupCommitInit<T>
  #queue: T[] = []
  #oldestAt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #running: Promise<void> | undefined
  #urgent = 0
  #stopped = false

  constructor (init: GroupCommitInit<T>) {
    this.#init = init
  }

  /** Items waiting for a batch (not counting the batch being committed). */
  get queued (): number { return this.#queue.length }

  /** Queue an item for the next batch. */
  add (item: T): void {
    if (this.#queue.length === 0) this.#oldestAt = performance.now()
    this.#queue.push(item)
    this.#kick()
  }

  /** Remove and return everything queued (for a failure that dooms them). */
  takeQueued (): T[] {
    const items = this.#queue
    this.#queue = []
    this.#clearTimer()
    return items
  }

  /**
   * Run `work` with commits happening back to back instead of on the timer —
   * flush() waits for its pieces this way, so it never sits out an interval.
   */
  async urgently<R> (work: () => Promise<R>): Promise<R> {
    this.#urgent++
    this.#kick()
    try {
      return await work()
    } finally {
      this.#urgent--
    }
  }

  /** Resolves when no batch is being committed. */
  async idle (): Promise<void> {
    while (this.#running !== undefined) await this.#running
  }

  /** Cancel the timer; later adds are still committed only via urgently(). */
  stop (): void {
    this.#stopped = true
    this.#clearTimer()
  }

  #kick (): void {
    if (this.#running !== undefined || this.#queue.length === 0) return // the running batch kicks on completion
    if (this.#urgent > 0 || this.#queue.length >= this.#init.maxPending) {
      this.#start()
      return
    }
    if (this.#timer !== undefined || this.#stopped) return
    const waited = performance.now() - this.#oldestAt
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#running === undefined && this.#queue.length > 0) this.#start()
    }, Math.max(0, this.#init.intervalMs - waited))
  }

  #start (): void {
    this.#clearTimer()
    const batch = this.#queue
    this.#queue = []
    this.#running = this.#init.commit(batch)
      .catch(() => { /* the commit settled its own waiters */ })
      .finally(() => {
        this.#running = undefined
        this.#kick()
      })
  }

  #clearTimer (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
