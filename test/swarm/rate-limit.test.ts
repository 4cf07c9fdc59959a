import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  BACKGROUND_FLOOR_BPS, BandwidthManager, DEFAULT_BURST_MS, MIN_DEFAULT_BURST_BYTES, TokenBucket, UNLIMITED,
  type RateLimiter, type Sleep
} from '../../src/swarm/rate-limit.js'

const KiB = 1024
const MiB = 1024 * 1024

/** A manual clock: sleeps resolve only when advance() passes their deadline. */
class FakeClock {
  t = 0
  sleeps = 0
  readonly #timers: Array<{ at: number, fire: () => void }> = []
  readonly now = (): number => this.t
  readonly sleep: Sleep = async (ms, signal) => {
    this.sleeps++
    await new Promise<void>(resolve => {
      if (signal.aborted) { resolve(); return }
      const timer = { at: this.t + ms, fire: () => { signal.removeEventListener('abort', cancel); resolve() } }
      const cancel = (): void => {
        const i = this.#timers.indexOf(timer)
        if (i >= 0) this.#timers.splice(i, 1)
        resolve()
      }
      this.#timers.push(timer)
      signal.addEventListener('abort', cancel, { once: true })
    })
  }

  /** Move time forward by `ms`, firing due sleeps in order and letting their continuations run. */
  async advance (ms: number): Promise<void> {
    const end = this.t + ms
    await settle()
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at)
      const next = this.#timers[0]
      if (next === undefined || next.at > end) break
      this.#timers.shift()
      this.t = Math.max(this.t, next.at)
      next.fire()
      await settle()
    }
    this.t = end
    await settle()
  }
}

/** Let every pending microtask (and their follow-ups) run. */
async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}

/** A consumer that charges `chunk` bytes in a loop, counting delivered bytes, until stopped. */
function pump (limiter: RateLimiter, chunk: number): { delivered: () => number, stop: () => void, done: Promise<void> } {
  let delivered = 0
  const ctl = new AbortController()
  const done = (async () => {
    while (!ctl.signal.aborted) {
      try {
        await limiter.consume(chunk, ctl.signal)
      } catch {
        return
      }
      delivered += chunk
    }
  })()
  return { delivered: () => delivered, stop: () => { ctl.abort() }, done }
}

/** Delivered rate over `ms` of fake time, stepping the clock `step` ms at a time. */
async function measure (clock: FakeClock, p: ReturnType<typeof pump>, ms: number, step = 10): Promise<number> {
  const before = p.delivered()
  for (let t = 0; t < ms; t += step) await clock.advance(step)
  return (p.delivered() - before) * 1000 / ms
}

function assertNear (actual: number, expected: number, tolerance: number, what: string): void {
  const ratio = actual / expected
  assert.ok(Math.abs(ratio - 1) <= tolerance, `${what}: ${Math.round(actual)} B/s vs ${expected} B/s (×${ratio.toFixed(3)})`)
}

describe('TokenBucket', () => {
  it('documented defaults are the real ones', () => {
    assert.equal(DEFAULT_BURST_MS, 250)
    assert.equal(MIN_DEFAULT_BURST_BYTES, 64 * KiB)
    assert.equal(BACKGROUND_FLOOR_BPS, 64 * KiB)
    assert.equal(UNLIMITED, Infinity)
    assert.equal(new TokenBucket({ bytesPerSecond: 4 * MiB }).burstBytes, MiB)
    assert.equal(new TokenBucket({ bytesPerSecond: 1000 }).burstBytes, 64 * KiB)
    assert.equal(new TokenBucket({ bytesPerSecond: 1000, burstBytes: 10 }).burstBytes, 10)
  })

  it('holds the cap within ±10% over a few seconds (64 KiB charges)', async () => {
    const clock = new FakeClock()
    const rate = 2_000_000
    const bucket = new TokenBucket({ bytesPerSecond: rate, now: clock.now, sleep: clock.sleep })
    const p = pump(bucket, 64 * KiB)
    assertNear(await measure(clock, p, 5000), rate, 0.1, 'first 5 s (burst included)')
    assertNear(await measure(clock, p, 5000), rate, 0.1, 'next 5 s')
    p.stop()
    await clock.advance(1000)
    await p.done
  })

  it('lets a charge larger than the burst through and keeps the long-run rate (16 MiB pieces)', async () => {
    const clock = new FakeClock()
    const rate = 8 * MiB
    const bucket = new TokenBucket({ bytesPerSecond: rate, now: clock.now, sleep: clock.sleep })
    assert.ok(bucket.burstBytes < 16 * MiB)
    const p = pump(bucket, 16 * MiB)
    await clock.advance(0)
    assert.equal(p.delivered(), 16 * MiB, 'the first piece passes at once on a full bucket')
    // the second waits for the debt: ~2 s at 8 MiB/s
    await clock.advance(1500)
    assert.equal(p.delivered(), 16 * MiB)
    assertNear(await measure(clock, p, 20_000, 50), rate, 0.1, '16 MiB charges over 20 s')
    p.stop()
    await clock.advance(5000)
    await p.done
  })

  it('0 and Infinity are unlimited: never waits, never sleeps', async () => {
    for (const bytesPerSecond of [0, Infinity]) {
      const sleep: Sleep = async () => { assert.fail('must not sleep') }
      const bucket = new TokenBucket({ bytesPerSecond, sleep })
      assert.equal(bucket.bytesPerSecond, Infinity)
      for (let i = 0; i < 100; i++) await bucket.consume(16 * MiB)
      assert.equal(bucket.waiting, 0)
    }
  })

  it('waiters are served in order: small charges never overtake a large one', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: clock.now, sleep: clock.sleep })
    const order: string[] = []
    await bucket.consume(1000) // empty the bucket
    const big = bucket.consume(3000).then(() => { order.push('big') })
    const small = bucket.consume(10).then(() => { order.push('small') })
    await clock.advance(999)
    assert.deepEqual(order, [])
    await clock.advance(1)
    assert.deepEqual(order, ['big'], 'big goes once the bucket is full; it leaves a 2000-byte debt')
    await clock.advance(2000)
    assert.deepEqual(order, ['big'], 'small still pays for the debt')
    await clock.advance(10)
    await Promise.all([big, small])
    assert.deepEqual(order, ['big', 'small'])
  })

  it('an aborted wait rejects with AbortedError, charges nothing and lets the next waiter move up', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: clock.now, sleep: clock.sleep })
    await bucket.consume(1000)
    const ctl = new AbortController()
    const first = bucket.consume(1000, ctl.signal)
    let secondDone = false
    const second = bucket.consume(500).then(() => { secondDone = true })
    await clock.advance(100)
    assert.equal(bucket.waiting, 2)
    ctl.abort()
    await assert.rejects(first, (err: Error & { code?: string }) => err.name === 'AbortedError' && err.code === 'ABORTED')
    assert.equal(bucket.waiting, 1)
    // 100 ms of tokens so far; the second needs 500: 400 ms more, not 1400
    await clock.advance(399)
    assert.equal(secondDone, false)
    await clock.advance(1)
    await second
    assert.equal(secondDone, true)
  })

  it('a non-head waiter can abort too; an already-aborted signal rejects at once', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 1000, now: clock.now, sleep: clock.sleep })
    await bucket.consume(1000)
    const head = bucket.consume(1000)
    const ctl = new AbortController()
    const tail = bucket.consume(1000, ctl.signal)
    ctl.abort()
    await assert.rejects(tail, { name: 'AbortedError' })
    assert.equal(bucket.waiting, 1)
    await clock.advance(1000)
    await head
    await assert.rejects(bucket.consume(1, AbortSignal.abort()), { name: 'AbortedError' })
    await assert.rejects(new TokenBucket({ bytesPerSecond: 0 }).consume(1, AbortSignal.abort()), { name: 'AbortedError' })
  })

  it('setRate re-times waiters at once, both ways', async () => {
    const clock = new FakeClock()
    const bucket = new TokenBucket({ bytesPerSecond: 100, burstBytes: 1000, now: clock.now, sleep: clock.sleep })
    await bucket.consume(1000)
    let done = false
    const wait = bucket.consume(1000).then(() => { done = true })
    await clock.advance(1000) // 100 of 1000 tokens at 100 B/s
    bucket.setRate(1000)
    await clock.advance(899)
    assert.equal(done, false)
    await clock.advance(1)
    await wait
    // raised to unlimited: a waiter is released at once
    await clock.advance(1000)
    await bucket.consume(1000)
    let freed = false
    const held = bucket.consume(1000).then(() => { freed = true })
    await clock.advance(1)
    assert.equal(freed, false)
    bucket.setRate(Infinity)
    await settle()
    await held
    assert.equal(freed, true)
  })

  it('real clock: 2 MB/s with 64 KiB charges never exceeds the cap by more than 25%', { timeout: 10_000 }, async () => {
    const rate = 2_000_000
    const bucket = new TokenBucket({ bytesPerSecond: rate, burstBytes: 64 * KiB })
    const started = performance.now()
    let bytes = 0
    while (performance.now() - started < 2000) {
      await bucket.consume(64 * KiB)
      bytes += 64 * KiB
    }
    const observed = bytes * 1000 / (performance.now() - started)
    // a loaded machine fires timers late, which only slows the bucket: bound the excess tightly, the shortfall loosely
    assert.ok(observed <= 1.25 * rate && observed >= 0.5 * rate, `real clock: observed ${Math.round(observed)} B/s for a cap of ${rate}`)
  })

  it('rejects bad options and charges with UsageError', async () => {
    for (const bytesPerSecond of [-1, NaN, '5' as unknown as number]) {
      assert.throws(() => new TokenBucket({ bytesPerSecond }), { code: 'USAGE' })
    }
    for (const burstBytes of [0, -5, Infinity, NaN]) {
      assert.throws(() => new TokenBucket({ bytesPerSecond: 10, burstBytes }), { code: 'USAGE' })
    }
    const bucket = new TokenBucket({ bytesPerSecond: 10 })
    assert.throws(() => { bucket.setRate(-3) }, { code: 'USAGE' })
    await assert.rejects(bucket.consume(-1), { code: 'USAGE' })
    await assert.rejects(bucket.consume(Infinity), { code: 'USAGE' })
  })
})

describe('BandwidthManager', () => {
  it('is unlimited by default', async () => {
    const m = new BandwidthManager()
    assert.deepEqual(m.rates, { foreground: Infinity, background: Infinity, upload: Infinity })
    await m.download('foreground').consume(GiBish)
    await m.download('background').consume(GiBish)
    await m.upload.consume(GiBish)
  })

  it('throttles background downloads to the floor while a foreground job runs, and restores them after', async () => {
    const clock = new FakeClock()
    const cap = 1_000_000
    const m = new BandwidthManager({ backgroundDownloadBps: cap, foregroundDownloadBps: 4_000_000, now: clock.now, sleep: clock.sleep })
    const bg = pump(m.download('background'), 8 * KiB)
    assertNear(await measure(clock, bg, 3000), cap, 0.1, 'background alone')

    m.jobStarted('foreground')
    m.jobStarted('foreground')
    assert.equal(m.backgroundThrottled, true)
    assert.equal(m.rates.background, BACKGROUND_FLOOR_BPS)
    const fg = pump(m.download('foreground'), 64 * KiB)
    assertNear(await measure(clock, bg, 8000), BACKGROUND_FLOOR_BPS, 0.1, 'background during foreground')
    assertNear(await measure(clock, fg, 4000), 4_000_000, 0.1, 'foreground keeps its own cap')

    m.jobEnded('foreground')
    assert.equal(m.backgroundThrottled, true, 'one foreground job still active')
    m.jobEnded('foreground')
    m.jobEnded('foreground') // an extra end never goes below zero
    assert.equal(m.activeJobs('foreground'), 0)
    assert.equal(m.rates.background, cap)
    assertNear(await measure(clock, bg, 3000), cap, 0.1, 'background restored')

    fg.stop()
    bg.stop()
    await clock.advance(1000)
    await Promise.all([fg.done, bg.done])
  })

  it('an unlimited background is throttled too, and a background cap below the floor is kept', async () => {
    const m = new BandwidthManager()
    m.jobStarted('foreground')
    assert.equal(m.rates.background, BACKGROUND_FLOOR_BPS)
    m.jobEnded('foreground')
    assert.equal(m.rates.background, Infinity)

    const low = new BandwidthManager({ backgroundDownloadBps: 10 * KiB })
    low.jobStarted('foreground')
    assert.equal(low.rates.background, 10 * KiB)
    // background jobs are counted but never throttle anything
    low.jobEnded('foreground')
    low.jobStarted('background')
    assert.equal(low.activeJobs('background'), 1)
    assert.equal(low.backgroundThrottled, false)
  })

  it('setCaps changes caps at run time and respects an active foreground job', () => {
    const m = new BandwidthManager({ backgroundFloorBps: 1000 })
    m.jobStarted('foreground')
    m.setCaps({ backgroundDownloadBps: 500, uploadBps: 2000, foregroundDownloadBps: 3000 })
    assert.deepEqual(m.rates, { foreground: 3000, background: 500, upload: 2000 })
    m.jobEnded('foreground')
    assert.equal(m.rates.background, 500)
    m.setCaps({ backgroundDownloadBps: 0 })
    assert.equal(m.rates.background, Infinity)
  })

  it('validates its options', () => {
    assert.throws(() => new BandwidthManager({ uploadBps: -1 }), { code: 'USAGE' })
    assert.throws(() => new BandwidthManager({ foregroundDownloadBps: NaN }), { code: 'USAGE' })
    assert.throws(() => new BandwidthManager({ backgroundFloorBps: 0 }), { code: 'USAGE' })
    const m = new BandwidthManager()
    assert.throws(() => m.download('urgent' as 'foreground'), { code: 'USAGE' })
    assert.throws(() => { m.jobStarted('x' as 'background') }, { code: 'USAGE' })
  })
})

const GiBish = 1024 * MiB
