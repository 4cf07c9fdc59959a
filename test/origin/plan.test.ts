import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { UsageError } from '../../src/errors.js'
import { planRanges } from '../../src/origin/index.js'

describe('planRanges', () => {
  it('coalesces consecutive indices into runs', () => {
    assert.deepEqual(planRanges([0, 1, 2, 5, 6, 9], 100), [
      { first: 0, count: 3 }, { first: 5, count: 2 }, { first: 9, count: 1 }
    ])
  })

  it('caps each run at maxPiecesPerRange', () => {
    assert.deepEqual(planRanges([0, 1, 2, 3, 4, 5, 6], 3), [
      { first: 0, count: 3 }, { first: 3, count: 3 }, { first: 6, count: 1 }
    ])
    assert.deepEqual(planRanges([4, 5, 6], 1), [{ first: 4, count: 1 }, { first: 5, count: 1 }, { first: 6, count: 1 }])
  })

  it('accepts unsorted input with duplicates and does not modify it', () => {
    const input = [7, 3, 4, 3, 8, 0]
    assert.deepEqual(planRanges(input, 10), [{ first: 0, count: 1 }, { first: 3, count: 2 }, { first: 7, count: 2 }])
    assert.deepEqual(input, [7, 3, 4, 3, 8, 0])
  })

  it('returns no runs for no pieces', () => {
    assert.deepEqual(planRanges([], 4), [])
  })

  it('covers exactly the input set, for many random inputs', () => {
    let seed = 42
    const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
    for (let trial = 0; trial < 200; trial++) {
      const set = new Set<number>()
      for (let i = 0; i < 60; i++) if (rnd() < 0.6) set.add(i)
      const cap = 1 + Math.floor(rnd() * 8)
      const runs = planRanges([...set], cap)
      const covered: number[] = []
      for (const r of runs) {
        assert.ok(r.count >= 1 && r.count <= cap)
        for (let i = 0; i < r.count; i++) covered.push(r.first + i)
      }
      assert.deepEqual(covered, [...set].sort((a, b) => a - b))
      // maximal: two adjacent runs only touch when the first is full
      for (let i = 1; i < runs.length; i++) {
        const prev = runs[i - 1]!
        if (prev.first + prev.count === runs[i]!.first) assert.equal(prev.count, cap)
      }
    }
  })

  it('rejects a bad cap or bad indices', () => {
    assert.throws(() => planRanges([1], 0), UsageError)
    assert.throws(() => planRanges([1], 1.5), UsageError)
    assert.throws(() => planRanges([-1], 4), UsageError)
    assert.throws(() => planRanges([0.5], 4), UsageError)
    assert.throws(() => planRanges([Number.NaN], 4), UsageError)
  })
})
