import assert from 'node:assert/strict'
import { describe, it, type TestContext } from 'node:test'
import { StallWatch } from '../../src/origin/stall.js'

/** A StallWatch on a fake clock driven together with mocked setTimeout. */
function harness (t: TestContext, limits: { idleTimeoutMs: number, minRateBytesPerSec: number, minRateWindowMs: number }, sharers?: () => number): {
  watch: StallWatch, stalls: string[], advance: (ms: number) => void
} {
  t.mock.timers.enable({ apis: ['setTimeout'] })
  let now = 0
  const stalls: string[] = []
  const watch = new StallWatch(limits, (r) => stalls.push(r), () => now, undefined, sharers)
  const advance = (ms: number): void => {
    for (let i = 0; i < ms; i++) { now++; t.mock.timers.tick(1) }
  }
  return { watch, stalls, advance }
}

describe('StallWatch', () => {
  it('fires the idle timeout only after a full quiet period', (t) => {
    const { watch, stalls, advance } = harness(t, { idleTimeoutMs: 100, minRateBytesPerSec: 0, minRateWindowMs: 50 })
    watch.start(true)
    advance(90); watch.bytes(1)
    advance(90); watch.bytes(1)
    assert.deepEqual(stalls, [])
    advance(100)
    assert.equal(stalls.length, 1)
    assert.match(stalls[0]!, /stalled: no data for 100 ms/)
    watch.stop()
  })

  it('fires the minimum-rate rule at a window boundary, not while headers are awaited', (t) => {
    const { watch, stalls, advance } = harness(t, { idleTimeoutMs: 1000, minRateBytesPerSec: 1000, minRateWindowMs: 100 })
    watch.start(false)
    advance(300) // waiting for headers: only idleness counts
    assert.deepEqual(stalls, [])
    watch.start(true)
    for (let i = 0; i < 10; i++) { advance(10); watch.bytes(20) } // 2000 B/s: fine
    assert.deepEqual(stalls, [])
    for (let i = 0; i < 10; i++) { advance(10); watch.bytes(5) } // 500 B/s: too slow
    assert.equal(stalls.length, 1)
    const m = /stalled: (\d+) B\/s over 100 ms, below the minimum 1000 B\/s/.exec(stalls[0]!)
    assert.ok(m !== null, stalls[0])
    assert.ok(Number(m[1]) < 1000)
    watch.stop()
  })

  it('divides the minimum rate among the nodes sharing the origin: its share of a congested link is no stall', (t) => {
    let sharers = 4
    const { watch, stalls, advance } = harness(t, { idleTimeoutMs: 1000, minRateBytesPerSec: 1000, minRateWindowMs: 100 }, () => sharers)
    watch.start(true)
    for (let i = 0; i < 10; i++) { advance(10); watch.bytes(4) } // 400 B/s: above 1000 / 4
    assert.deepEqual(stalls, [])
    sharers = 1 // the others are done: the whole minimum applies again
    for (let i = 0; i < 10; i++) { advance(10); watch.bytes(4) }
    assert.equal(stalls.length, 1)
    assert.match(stalls[0]!, /below the minimum 1000 B\/s/)
    watch.stop()
    sharers = 4
    watch.start(true)
    for (let i = 0; i < 10; i++) { advance(10); watch.bytes(2) } // 200 B/s: below even the share
    assert.equal(stalls.length, 2)
    assert.match(stalls[1]!, /below the minimum 250 B\/s \(1000 B\/s shared by 4 nodes\)/)
    watch.stop()
  })

  it('stop() silences it (paused time is not counted)', (t) => {
    const { watch, stalls, advance } = harness(t, { idleTimeoutMs: 50, minRateBytesPerSec: 1000, minRateWindowMs: 50 })
    watch.start(true)
    watch.stop()
    advance(500)
    assert.deepEqual(stalls, [])
    watch.start(true)
    advance(49)
    watch.bytes(100)
    assert.deepEqual(stalls, [])
    watch.stop()
  })
})
