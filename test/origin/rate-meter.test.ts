/** RateMeter: bytes over the last window, from fixed buckets in a ring (injected clock). */
import assert from 'node:assert/strict'
import { it } from 'node:test'
import { RateMeter } from '../../src/origin/rate-meter.js'

it('counts the bytes of the last window and forgets older ones, across ring wraps', () => {
  let now = 10_000
  const m = new RateMeter(1000, 250, () => now)
  m.add(1000)
  now += 250
  m.add(1000)
  // two buckets of 1000 bytes within the last 500 ms (+ up to one bucket): 2000 B over 0.5 s
  assert.equal(m.rate(500), 4000)
  now += 2000 // both buckets are older than any window the meter keeps
  assert.equal(m.rate(1000), 0)
  // many wraps later the slots hold new buckets only
  for (let i = 0; i < 40; i++) { now += 250; m.add(10) }
  assert.equal(m.rate(1000), (1000 / 250 + 1) * 10 * 1000 / 1000)
})

it('a window longer than the span counts only what the ring keeps', () => {
  let now = 0
  const m = new RateMeter(1000, 250, () => now)
  for (let i = 0; i < 20; i++) { m.add(100); now += 250 }
  // 5 s of 400 B/s; asked over 5 s, the ring holds about the last 1.25 s of it
  const r = m.rate(5000)
  assert.ok(r > 0 && r < 400, String(r))
})
