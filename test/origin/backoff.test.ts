import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AbortedError } from '../../src/errors.js'
import { backoffDelay, parseRetryAfter } from '../../src/origin/index.js'
import { sleep } from '../../src/origin/backoff.js'

describe('backoffDelay', () => {
  it('grows exponentially under full jitter', () => {
    const max = (): number => 1 - Number.EPSILON
    assert.equal(backoffDelay(0, 100, 10_000, max), 99)
    assert.equal(backoffDelay(1, 100, 10_000, max), 199)
    assert.equal(backoffDelay(3, 100, 10_000, max), 799)
    assert.equal(backoffDelay(3, 100, 10_000, () => 0.5), 400)
  })

  it('is zero at random() = 0 and never reaches the cap', () => {
    assert.equal(backoffDelay(5, 100, 1000, () => 0), 0)
    assert.equal(backoffDelay(50, 100, 1000, () => 0.999999), 999)
    assert.ok(backoffDelay(2000, 100, 1000, () => 0.7) < 1000, 'huge attempts do not overflow past the cap')
  })

  it('clamps a misbehaving random source', () => {
    assert.equal(backoffDelay(0, 100, 1000, () => 5), 99)
    assert.equal(backoffDelay(0, 100, 1000, () => -1), 0)
    assert.equal(backoffDelay(0, 0, 1000, () => 0.5), 0)
  })

  it('is pure: same inputs, same output', () => {
    const r = (): number => 0.3
    assert.equal(backoffDelay(4, 250, 10_000, r), backoffDelay(4, 250, 10_000, r))
  })
})

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z')
  it('reads delta-seconds, capped', () => {
    assert.equal(parseRetryAfter('2', 10_000, now), 2000)
    assert.equal(parseRetryAfter(' 0 ', 10_000, now), 0)
    assert.equal(parseRetryAfter('3600', 10_000, now), 10_000)
  })
  it('reads an HTTP-date; a past date means now', () => {
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', 10_000, now), 5000)
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', 10_000, now), 0)
  })
  it('ignores absent, repeated or garbage values', () => {
    assert.equal(parseRetryAfter(undefined, 10_000, now), undefined)
    assert.equal(parseRetryAfter(['1', '2'], 10_000, now), undefined)
    assert.equal(parseRetryAfter('soon', 10_000, now), undefined)
    assert.equal(parseRetryAfter('-5', 10_000, now), undefined)
  })
})

describe('sleep', () => {
  it('rejects with AbortedError promptly when aborted', async () => {
    const ac = new AbortController()
    const t0 = performance.now()
    setTimeout(() => ac.abort(), 20)
    await assert.rejects(sleep(10_000, ac.signal), AbortedError)
    assert.ok(performance.now() - t0 < 1000)
  })
})
