/**
 * Bandwidth policy: token buckets for download and upload caps, and a manager
 * that makes background downloads yield to foreground ones (DO's foreground /
 * background caps). Pure apart from timers; the clock and the sleep are
 * injectable so tests run on a fake clock.
 *
 * Callers charge bytes as they move: a download task calls
 * `await limiter.consume(pieceBytes, signal)` after each piece it receives (so
 * its next request waits), an upload before each piece it sends.
 */
import { AbortedError, UsageError } from '../errors.js'

/** `bytesPerSecond` meaning "no cap". `0` means the same (DO's convention for caps). */
export const UNLIMITED = Infinity

/** A default burst holds this much time at the bucket's rate, in ms. */
export const DEFAULT_BURST_MS = 250

/** The smallest default burst, in bytes, so slow caps still pass a typical network read at once. */
export const MIN_DEFAULT_BURST_BYTES = 64 * 1024

/**
 * While a foreground download runs, background downloads are throttled to this
 * rate (or to their own cap if lower) instead of stopping, so their
 * connections and sessions stay alive. 64 KiB/s.
 */
export const BACKGROUND_FLOOR_BPS = 64 * 1024

/** Resolves after `ms`, or earlier (resolving or rejecting) once `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>

/** Something that paces bytes: {@link TokenBucket}, or the limiters of {@link BandwidthManager}. */
export interface RateLimiter {
  /**
   * Charge `bytes`, waiting until the cap allows them. Resolves at once when
   * unlimited. Rejects with {@link AbortedError} if `signal` aborts first;
   * an aborted wait charges nothing.
   */
  consume: (bytes: number, signal?: AbortSignal) => Promise<void>
}

export interface TokenBucketInit {
  /** Sustained rate in bytes per second; `0` or `Infinity` = unlimited. */
  bytesPerSecond: number
  /**
   * Bytes that may pass at once after an idle period. A single consume may be
   * larger (a 16 MiB piece): it waits for a full bucket and leaves a debt the
   * next consumers pay off, so the long-run rate still holds.
   * @default max({@link MIN_DEFAULT_BURST_BYTES}, bytesPerSecond × {@link DEFAULT_BURST_MS} / 1000)
   */
  burstBytes?: number
  /** Clock in ms. @default performance.now */
  now?: () => number
  /** @default a setTimeout-based sleep */
  sleep?: Sleep
}

interface Waiter {
  bytes: number
  resolve: () => void
  reject: (err: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

/**
 * A token bucket with FIFO waiters: a consume never overtakes an earlier one,
 * so a stream of small charges cannot starve a large one. Tokens may go
 * negative (a debt) after a charge larger than the burst.
 */
export class TokenBucket implements RateLimiter {
  readonly #now: () => number
  readonly #sleep: Sleep
  readonly #fixedBurst: number | undefined
  #rate = UNLIMITED
  #burst = 0
  #tokens = 0
  #last: number
  readonly #queue: Waiter[] = []
  /** aborts the pump's current sleep so it re-evaluates (rate change, head aborted) */
  #wake: AbortController | undefined
  #pumping = false

  constructor (init: TokenBucketInit) {
    if (typeof init !== 'object' || init === null) throw new UsageError('TokenBucket needs { bytesPerSecond }')
    if (init.burstBytes !== undefined) this.#fixedBurst = checkPositive(init.burstBytes, 'burstBytes')
    this.#now = init.now ?? (() => performance.now())
    this.#sleep = init.sleep ?? defaultSleep
    this.#last = this.#now()
    this.#applyRate(checkRate(init.bytesPerSecond, 'bytesPerSecond'))
    this.#tokens = this.#burst
  }

  /** Current rate in bytes per second (`Infinity` when unlimited). */
  get bytesPerSecond (): number { return this.#rate }
  /** Current burst in bytes. */
  get burstBytes (): number { return this.#burst }
  /** Consumers waiting. */
  get waiting (): number { return this.#queue.length }

  /**
   * Change the rate; waiting consumers are re-timed at once. Tokens (and any
   * debt) carry over; a default burst follows the new rate.
   */
  setRate (bytesPerSecond: number): void {
    const rate = checkRate(bytesPerSecond, 'bytesPerSecond')
    this.#refill()
    this.#applyRate(rate)
    this.#tokens = Math.min(this.#tokens, this.#burst)
    this.#wake?.abort()
    this.#pump()
  }

  async consume (bytes: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(bytes) || bytes < 0) throw new UsageError(`bytes must be a finite number >= 0, got ${String(bytes)}`)
    if (signal?.aborted === true) throw new AbortedError()
    if (bytes === 0 || this.#rate === UNLIMITED) return
    this.#refill()
    if (this.#queue.length === 0 && this.#tokens >= Math.min(bytes, this.#burst)) {
      this.#tokens -= bytes
      return
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, resolve, reject }
      if (signal !== undefined) {
        waiter.signal = signal
        waiter.onAbort = () => { this.#cancel(waiter) }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.#queue.push(waiter)
      this.#pump()
    })
  }

  #applyRate (rate: number): void {
    this.#rate = rate
    this.#burst = this.#fixedBurst ?? (rate === UNLIMITED
      ? MIN_DEFAULT_BURST_BYTES
      : Math.max(MIN_DEFAULT_BURST_BYTES, rate * DEFAULT_BURST_MS / 1000))
  }

  #refill (): void {
    const now = this.#now()
    const elapsed = Math.max(0, now - this.#last)
    this.#last = now
    this.#tokens = this.#rate === UNLIMITED
      ? this.#burst
      : Math.min(this.#burst, this.#tokens + elapsed * this.#rate / 1000)
  }

  #cancel (waiter: Waiter): void {
    const i = this.#queue.indexOf(waiter)
    if (i < 0) return
    this.#queue.splice(i, 1)
    this.#settle(waiter)
    waiter.reject(new AbortedError())
    if (i === 0) this.#wake?.abort()
  }

  #settle (waiter: Waiter): void {
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }

  /** Release waiters in order as tokens allow; one pump runs at a time. */
  #pump (): void {
    if (this.#pumping) return
    this.#pumping = true
    void this.#run()
  }

  async #run (): Promise<void> {
    // the flag is cleared in the same tick the queue is seen empty, so a
    // consume() arriving after that always starts a new pump
    try {
      while (this.#queue.length > 0) {
        this.#refill()
        const head = this.#queue[0] as Waiter
        const need = Math.min(head.bytes, this.#burst)
        if (this.#rate === UNLIMITED || this.#tokens >= need) {
          if (this.#rate !== UNLIMITED) this.#tokens -= head.bytes
          this.#queue.shift()
          this.#settle(head)
          head.resolve()
          continue
        }
        const waitMs = Math.max(1, Math.ceil((need - this.#tokens) * 1000 / this.#rate))
        const wake = new AbortController()
        this.#wake = wake
        try {
          await this.#sleep(waitMs, wake.signal)
        } catch {
          // woken early: re-evaluate
        } finally {
          if (this.#wake === wake) this.#wake = undefined
        }
      }
    } finally {
      this.#pumping = false
    }
  }
}

/** Download urgency: a user waiting (foreground) or a prefetch / update in the background. */
export type Priority = 'foreground' | 'background'

export interface BandwidthManagerInit {
  /** Foreground download cap, bytes/s; `0` or `Infinity` = unlimited. @default Infinity */
  foregroundDownloadBps?: number
  /** Background download cap, bytes/s; `0` or `Infinity` = unlimited. @default Infinity */
  backgroundDownloadBps?: number
  /** Upload cap, bytes/s; `0` or `Infinity` = unlimited. @default Infinity */
  uploadBps?: number
  /** Background rate while a foreground job runs (if below the background cap). @default 65536 ({@link BACKGROUND_FLOOR_BPS}) */
  backgroundFloorBps?: number
  /** Clock in ms, for tests. @default performance.now */
  now?: () => number
  /** Sleep, for tests. */
  sleep?: Sleep
}

/**
 * The node's bandwidth policy. One limiter per direction and priority,
 * shared by all downloads (or uploads) of that kind. While any foreground job
 * is active, background downloads drop to {@link BACKGROUND_FLOOR_BPS} (or
 * their cap if lower); they get their cap back when the last foreground job
 * ends.
 */
export class BandwidthManager {
  /** Shared by every upload. */
  readonly upload: RateLimiter
  readonly #fg: TokenBucket
  readonly #bg: TokenBucket
  readonly #up: TokenBucket
  #bgCap: number
  #floor: number
  readonly #active: Record<Priority, number> = { foreground: 0, background: 0 }

  constructor (init: BandwidthManagerInit = {}) {
    const fg = checkRate(init.foregroundDownloadBps ?? UNLIMITED, 'foregroundDownloadBps')
    this.#bgCap = checkRate(init.backgroundDownloadBps ?? UNLIMITED, 'backgroundDownloadBps')
    const up = checkRate(init.uploadBps ?? UNLIMITED, 'uploadBps')
    this.#floor = checkPositive(init.backgroundFloorBps ?? BACKGROUND_FLOOR_BPS, 'backgroundFloorBps')
    const clock: Pick<TokenBucketInit, 'now' | 'sleep'> = {}
    if (init.now !== undefined) clock.now = init.now
    if (init.sleep !== undefined) clock.sleep = init.sleep
    this.#fg = new TokenBucket({ bytesPerSecond: fg, ...clock })
    this.#bg = new TokenBucket({ bytesPerSecond: this.#bgCap, ...clock })
    this.#up = new TokenBucket({ bytesPerSecond: up, ...clock })
    this.upload = this.#up
  }

  /** The limiter a download of this priority charges its pieces to. */
  download (priority: Priority): RateLimiter {
    return this.#bucket(priority)
  }

  /** True while background downloads are held at the floor. */
  get backgroundThrottled (): boolean { return this.#active.foreground > 0 }

  /** The rate each limiter applies now, bytes/s (`Infinity` = unlimited). */
  get rates (): { foreground: number, background: number, upload: number } {
    return { foreground: this.#fg.bytesPerSecond, background: this.#bg.bytesPerSecond, upload: this.#up.bytesPerSecond }
  }

  /** Jobs of this priority that started and have not ended. */
  activeJobs (priority: Priority): number {
    this.#bucket(priority)
    return this.#active[priority]
  }

  /** A download job began. The first foreground job throttles background downloads. */
  jobStarted (priority: Priority): void {
    this.#bucket(priority)
    this.#active[priority]++
    if (priority === 'foreground' && this.#active.foreground === 1) this.#applyBackground()
  }

  /**
   * A download job ended. The last foreground job to end restores background
   * downloads to their cap. Extra calls never take the count below zero.
   */
  jobEnded (priority: Priority): void {
    this.#bucket(priority)
    if (this.#active[priority] === 0) return
    this.#active[priority]--
    if (priority === 'foreground' && this.#active.foreground === 0) this.#applyBackground()
  }

  /** Change caps at run time (e.g. a reloaded configuration); omitted ones stay. */
  setCaps (caps: Pick<BandwidthManagerInit, 'foregroundDownloadBps' | 'backgroundDownloadBps' | 'uploadBps' | 'backgroundFloorBps'>): void {
    const fg = caps.foregroundDownloadBps === undefined ? undefined : checkRate(caps.foregroundDownloadBps, 'foregroundDownloadBps')
    const bg = caps.backgroundDownloadBps === undefined ? undefined : checkRate(caps.backgroundDownloadBps, 'backgroundDownloadBps')
    const up = caps.uploadBps === undefined ? undefined : checkRate(caps.uploadBps, 'uploadBps')
    const floor = caps.backgroundFloorBps === undefined ? undefined : checkPositive(caps.backgroundFloorBps, 'backgroundFloorBps')
    if (fg !== undefined) this.#fg.setRate(fg)
    if (up !== undefined) this.#up.setRate(up)
    if (bg !== undefined) this.#bgCap = bg
    if (floor !== undefined) this.#floor = floor
    this.#applyBackground()
  }

  #applyBackground (): void {
    const rate = this.#active.foreground > 0 ? Math.min(this.#bgCap, this.#floor) : this.#bgCap
    if (rate !== this.#bg.bytesPerSecond) this.#bg.setRate(rate)
  }

  #bucket (priority: Priority): TokenBucket {
    if (priority === 'foreground') return this.#fg
    if (priority === 'background') return this.#bg
    throw new UsageError(`priority must be 'foreground' or 'background', got ${JSON.stringify(priority)}`)
  }
}

/** A rate option: `0` and `Infinity` mean unlimited; otherwise a finite number > 0. */
function checkRate (value: number, name: string): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new UsageError(`${name} must be a number of bytes per second >= 0 (0 = unlimited), got ${String(value)}`)
  }
  return value === 0 ? UNLIMITED : value
}

function checkPositive (value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${name} must be a finite number > 0, got ${String(value)}`)
  }
  return value
}

const defaultSleep: Sleep = async (ms, signal) => {
  await new Promise<void>(resolve => {
    if (signal.aborted) { resolve(); return }
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
