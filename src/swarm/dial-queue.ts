/**
 * Peer-exchange dials, a few at a time. A newcomer to a crowd hears of every
 * other node at once, and every node hears of it: left alone, twenty nodes
 * start some 380 Noise handshakes in the same second. The queue bounds the
 * handshakes one node starts (4 at once, one per peer), so they do not all
 * compete for the CPU at once. It does not make them fast on an overloaded
 * host: on the 20-node loopback crowd (20 processes, 2 cores, event loops
 * 1–2 s late) most peer-exchange dials still ran out of their deadline, with
 * the queue as without it. What keeps the origin coordination whole while
 * such a mesh forms is that failed dials are retried and the peer stays in
 * the session's view meanwhile (swarm.ts, session.ts).
 */

/** Peer-exchange dials in flight at once, per node. @default 4 */
export const DEFAULT_MAX_PEX_DIALS = 4

export type DialJob = () => Promise<void>

export class DialQueue {
  readonly max: number
  readonly #waiting: Array<{ key: string, job: DialJob }> = []
  readonly #keys = new Set<string>()
  #active = 0
  #closed = false

  constructor (max = DEFAULT_MAX_PEX_DIALS) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer ≥ 1')
    this.max = max
  }

  /** Dials in flight. */
  get active (): number { return this.#active }
  /** Dials waiting for a slot. */
  get waiting (): number { return this.#waiting.length }

  /** True while a dial for `key` waits or runs. */
  has (key: string): boolean { return this.#keys.has(key) }

  /**
   * Run `job` when a slot is free. One job per key at a time: returns false
   * (and drops `job`) if one for `key` already waits or runs, or the queue is closed.
   * The job must settle by itself (give it a deadline); its failure is its own business.
   */
  add (key: string, job: DialJob): boolean {
    if (this.#closed || this.#keys.has(key)) return false
    this.#keys.add(key)
    this.#waiting.push({ key, job })
    this.#next()
    return true
  }

  /** Drop the waiting jobs and refuse new ones (dials in flight end by their own deadlines). */
  close (): void {
    this.#closed = true
    for (const w of this.#waiting) this.#keys.delete(w.key)
    this.#waiting.length = 0
  }

  #next (): void {
    while (this.#active < this.max && this.#waiting.length > 0) {
      const { key, job } = this.#waiting.shift() as { key: string, job: DialJob }
      this.#active++
      void Promise.resolve()
        .then(job)
        .catch(() => {})
        .finally(() => {
          this.#active--
          this.#keys.delete(key)
          this.#next()
        })
    }
  }
}
