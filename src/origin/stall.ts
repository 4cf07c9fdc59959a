/**
 * Stall detection for one HTTP exchange (THREATS T5): an idle timeout (no
 * byte for too long) and a minimum average rate over a window. Both clocks run
 * only while we are ready to read — time spent paused because our consumer is
 * slow is not the origin's fault and is not counted.
 *
 * One timer per exchange, re-armed for the next deadline when it fires; the
 * per-chunk cost is a counter update and a clock read.
 */

/** Limits, already validated by the caller. */
export interface StallLimits {
  idleTimeoutMs: number
  /** 0 disables the rate rule. */
  minRateBytesPerSec: number
  minRateWindowMs: number
}

/** Which rule fired: no byte for the idle timeout, or the average below the minimum rate. */
export type StallKind = 'idle' | 'rate'

export class StallWatch {
  readonly #limits: StallLimits
  readonly #onStall: (reason: string, kind: StallKind) => void
  readonly #now: () => number
  readonly #sourceRate: ((windowMs: number) => number) | undefined
  readonly #sharers: (() => number) | undefined
  #timer: NodeJS.Timeout | undefined
  #lastByteAt = 0
  #windowStart = 0
  #windowBytes = 0
  #rateActive = false

  /**
   * @param onStall - called once per stall with a message that says "stalled"
   * @param now - clock in ms, injectable for tests
   * @param sourceRate - the bytes/s the whole source (every connection to
   *   this origin) received over the last `windowMs`: a connection below the
   *   minimum rate is a stall only while the origin as a whole is below it too
   *   — on a congested origin link each connection gets a share, and cutting
   *   one that still delivers its share throws away what the origin already
   *   sent and asks for it again. Without it, each connection is judged alone.
   * @param sharers - how many nodes fetch from this origin now, us included:
   *   the minimum rate is divided among them, since they share its link. On
   *   an emulated LAN (20 nodes behind a 20 Mbit/s origin link, tail-drop)
   *   a node's one connection went below 32 KiB/s for the 10 s window while
   *   the link ran full, and each cut threw away a request the origin had
   *   already sent.
   */
  constructor (limits: StallLimits, onStall: (reason: string, kind: StallKind) => void, now: () => number = () => performance.now(), sourceRate?: (windowMs: number) => number, sharers?: () => number) {
    this.#limits = limits
    this.#onStall = onStall
    this.#now = now
    this.#sourceRate = sourceRate
    this.#sharers = sharers
  }

  /**
   * (Re)start both clocks from now. `rate` enables the minimum-rate rule;
   * it is off while waiting for response headers, where only idleness counts.
   */
  start (rate: boolean): void {
    const t = this.#now()
    this.#lastByteAt = t
    this.#windowStart = t
    this.#windowBytes = 0
    this.#rateActive = rate && this.#limits.minRateBytesPerSec > 0
    this.#arm(t)
  }

  /** Record `n` body bytes. */
  bytes (n: number): void {
    this.#windowBytes += n
    this.#lastByteAt = this.#now()
  }

  /** Stop watching (paused, finished or failed). Idempotent. */
  stop (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm (t: number): void {
    this.stop()
    let due = this.#lastByteAt + this.#limits.idleTimeoutMs
    if (this.#rateActive) due = Math.min(due, this.#windowStart + this.#limits.minRateWindowMs)
    this.#timer = setTimeout(this.#check, Math.max(1, Math.ceil(due - t)))
  }

  readonly #check = (): void => {
    this.#timer = undefined
    const t = this.#now()
    const { idleTimeoutMs, minRateBytesPerSec, minRateWindowMs } = this.#limits
    const idle = t - this.#lastByteAt
    if (idle >= idleTimeoutMs) {
      this.#onStall(`stalled: no data for ${Math.round(idle)} ms (idle timeout ${idleTimeoutMs} ms)`, 'idle')
      return
    }
    const elapsed = t - this.#windowStart
    if (this.#rateActive && elapsed >= minRateWindowMs) {
      const rate = this.#windowBytes * 1000 / elapsed
      const n = Math.max(1, Math.floor(this.#sharers?.() ?? 1) || 1)
      const floor = minRateBytesPerSec / n
      if (rate < floor) {
        const total = this.#sourceRate?.(elapsed)
        if (total === undefined || total < floor) {
          const whole = total === undefined ? '' : ` (the origin as a whole: ${Math.round(total)} B/s)`
          const share = n === 1 ? '' : ` (${minRateBytesPerSec} B/s shared by ${n} nodes)`
          this.#onStall(`stalled: ${Math.round(rate)} B/s over ${Math.round(elapsed)} ms, below the minimum ${Math.round(floor)} B/s${share}${whole}`, 'rate')
          return
        }
      }
      this.#windowStart = t
      this.#windowBytes = 0
    }
    this.#arm(t)
  }
}
