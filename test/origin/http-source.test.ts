import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { AbortedError, OriginError, UsageError } from '../../src/errors.js'
import { pieceCount } from '../../src/manifest/types.js'
import { HttpSource, planRanges } from '../../src/origin/index.js'
import { assertPieces, drain, FAST, testData, testManifest } from '../helpers/origin-fixtures.js'
import { startOrigin, type Origin } from '../helpers/origin-server.js'

const PIECE = 16 * 1024
const data = testData(17 * PIECE - 1000) // last piece short
const m = testManifest(data.length, PIECE)
const N = pieceCount(m)

describe('HttpSource on an honest origin', () => {
  let origin: Origin
  const sources: HttpSource[] = []
  const source = (extra: object = {}): HttpSource => {
    // an honest origin on a loaded machine must not look stalled: only the fault tests use hair-trigger timeouts
    const s = new HttpSource({ url: origin.url, manifest: m, ...FAST, idleTimeoutMs: 10_000, minRateWindowMs: 10_000, ...extra })
    sources.push(s)
    return s
  }
  before(async () => { origin = await startOrigin({ data }) })
  after(async () => {
    await Promise.all(sources.map(async s => await s.close()))
    await origin.close()
  })

  it('identifies itself and covers every piece', () => {
    const s = source()
    assert.equal(s.id, `http:${origin.url}`)
    assert.equal(s.kind, 'http')
    assert.equal(s.has(0), true)
    assert.equal(s.has(N - 1), true)
    assert.equal(s.has(N), false)
    assert.equal(s.has(-1), false)
    assert.equal(s.maxConcurrent, 4)
  })

  it('fetches runs in parallel with one request each and correct bytes', async () => {
    const s = source()
    const n0 = origin.requests
    const runs = planRanges(Array.from({ length: N }, (_, i) => i), 5)
    const results = await Promise.all(runs.map(async r => await drain(s, r.first, r.count, AbortSignal.timeout(5000))))
    results.forEach((res, i) => {
      assert.equal(res.error, undefined)
      assertPieces(res.pieces, runs[i]!.first, data, m)
      assert.equal(res.pieces.length, runs[i]!.count)
    })
    assert.equal(origin.requests - n0, runs.length)
    assert.equal(s.stats.requests, runs.length)
    assert.equal(s.stats.bytesReceived, data.length)
  })

  it('reuses keep-alive connections', async () => {
    const s = source({ connections: 1 })
    const c0 = origin.connectionsAccepted
    for (let i = 0; i < N; i += 3) {
      const res = await drain(s, i, Math.min(3, N - i), AbortSignal.timeout(5000))
      assert.equal(res.error, undefined)
      assertPieces(res.pieces, i, data, m)
    }
    assert.equal(origin.connectionsAccepted - c0, 1)
  })

  it('fetches a single short last piece', async () => {
    const res = await drain(source(), N - 1, 1, AbortSignal.timeout(5000))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, N - 1, data, m)
    assert.equal(res.pieces.length, 1)
  })

  it('rejects runs outside the file', async () => {
    const s = source()
    for (const [first, count] of [[-1, 1], [0, 0], [N - 1, 2], [0.5, 1], [0, N + 1]] as const) {
      const res = await drain(s, first, count, AbortSignal.timeout(5000))
      assert.ok(res.error instanceof UsageError, `${first}+${count}`)
    }
  })

  it('throws AbortedError for an already-aborted signal without a request', async () => {
    const s = source()
    const res = await drain(s, 0, 1, AbortSignal.abort())
    assert.ok(res.error instanceof AbortedError)
    assert.equal(s.stats.requests, 0)
  })

  it('close() aborts a fetch in progress and is idempotent', async () => {
    const slow = await startOrigin({ data, behaviour: () => ({ kind: 'stall', afterBytes: PIECE + 10 }) })
    try {
      const s = new HttpSource({ url: slow.url, manifest: m, ...FAST, idleTimeoutMs: 10_000 })
      const pending = drain(s, 0, N, AbortSignal.timeout(5000), async () => {
        await s.close()
      })
      const res = await pending
      assert.ok(res.error instanceof AbortedError)
      assert.match((res.error as Error).message, /closed/)
      assert.equal(res.pieces.length, 1)
      await s.close()
      const after = await drain(s, 0, 1, AbortSignal.timeout(5000))
      assert.ok(after.error instanceof AbortedError)
    } finally { await slow.close() }
  })

  it('fails with a retryable OriginError when nothing listens', async () => {
    const dead = await startOrigin({ data })
    const url = dead.url
    await dead.close()
    const s = source({ maxRetries: 1 })
    const res = await drain(new HttpSource({ url, manifest: m, ...FAST, maxRetries: 1 }), 0, 1, AbortSignal.timeout(5000))
    assert.ok(res.error instanceof OriginError)
    assert.equal((res.error as OriginError).retryable, true)
    assert.match((res.error as Error).message, /gave up after 2 attempts/)
    void s
  })
})
