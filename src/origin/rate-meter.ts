/**
 * Body bytes one HTTP source received over the last seconds, over all its
 * connections: the minimum-rate rule asks it whether the origin as a whole
 * is slow for this download, or only one of its connections (src/origin/stall.ts).
 *
 * Fixed buckets in a ring: adding is O(1), a rate over a window is a sum
 * over at most `span / bucketMs` buckets.
 */
export class RateMeter {
  readonly #bucketMs: number
  readonly #counts: Float64Array
  /** bucket number (time ÷ bucketMs) each slot holds */
  readonly #slots: Float64Array
  readonly #now: () => number

  /**
   * @param spanMs - longest window {@link rate} is asked about
   * @param now - clock in ms, injectable for tests
   */
  constructor (spanMs: number, bucketMs = 250, now: () => number = () => performance.now()) {
    this.#bucketMs = bucketMs
    const n = Math.max(2, Math.ceil(spanMs / bucketMs) + 2)
    this.#counts = new Float64Array(n)
    this.#slots = new Float64Array(n).fill(-1)
    this.#now = now
  }

  /** Record `n` bytes received now. */
  add (n: number): void {
    const b = Math.floor(this.#now() / this.#bucketMs)
    const k = b % this.#counts.length
    if (this.#slots[k] !== b) { this.#slots[k] = b; this.#counts[k] = 0 }
    this.#counts[k] = (this.#counts[k] ?? 0) + n
  }

  /** Bytes per second over the last `windowMs` (whole buckets: up to one bucket more). */
  rate (windowMs: number): number {
    const b = Math.floor(this.#now() / this.#bucketMs)
    const buckets = Math.min(this.#counts.length - 1, Math.ceil(windowMs / this.#bucketMs))
    let sum = 0
    for (let i = 0; i <= buckets; i++) {
      const want = b - i
      const k = ((want % this.#counts.length) + this.#counts.length) % this.#counts.length
      if (this.#slots[k] === want) sum += this.#counts[k] ?? 0
    }
    return sum * 1000 / Math.max(1, windowMs)
  }
}
