/**
 * Counters of HTTP requests cut short (src/origin/cut.ts), against a real
 * HTTP origin on port 0: each request that ends before delivering its whole
 * range is counted once, under the reason it was cut for, with the bytes it
 * threw away and the bytes of the range it never read.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { AbortedError } from '../../src/errors.js'
import { pieceCount } from '../../src/manifest/types.js'
import { HTTP_CUT_REASONS, type HttpCutReason } from '../../src/origin/cut.js'
import { HttpSource, type HttpSourceInit } from '../../src/origin/index.js'
import { assertPieces, drain, FAST, testData, testManifest } from '../helpers/origin-fixtures.js'
import { startOrigin, type Behaviour } from '../helpers/origin-server.js'

const KiB = 1024
const PIECE = 64 * KiB
const data = testData(16 * PIECE, 21)

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanup.map(async f => await f()))
  cleanup = []
})

async function setup (init: Partial<HttpSourceInit> = {}, behaviour?: () => Behaviour | undefined): Promise<HttpSource> {
  const origin = await startOrigin(behaviour === undefined ? { data } : { data, behaviour })
  const m = testManifest(data.length, PIECE)
  const source = new HttpSource({ url: origin.url, manifest: m, ...FAST, ...init })
  cleanup.push(async () => { await source.close(); await origin.close() })
  return source
}

/** Every reason but `only` has a zero count. */
function onlyCut (source: HttpSource, only: HttpCutReason | undefined): void {
  for (const r of HTTP_CUT_REASONS) {
    if (r === only) continue
    assert.deepEqual(source.stats.cut[r], { requests: 0, bytesDiscarded: 0, bytesUnread: 0 }, `nothing cut for ${r}`)
  }
}

describe('HTTP requests cut short are counted by why', () => {
  it('a whole range delivered counts nothing', async () => {
    const source = await setup()
    const res = await drain(source, 0, pieceCount(testManifest(data.length, PIECE)), AbortSignal.timeout(10_000))
    assert.equal(res.error, undefined)
    onlyCut(source, undefined)
  })

  it('an abort with a tagged reason is counted under that reason, with what was thrown away and never read', async () => {
    const source = await setup()
    const ac = new AbortController()
    const count = 12
    const res = await drain(source, 0, count, AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]), (p) => {
      if (p.index === 1) ac.abort(new AbortedError('another node fetches these pieces', 'claim-clash'))
    })
    assert.ok(res.error instanceof AbortedError, String(res.error))
    assert.equal(res.pieces.length, 2)
    const c = source.stats.cut['claim-clash']
    assert.equal(c.requests, 1)
    // every byte of the range is either delivered, thrown away or never read
    const delivered = res.pieces.reduce((s, p) => s + p.bytes.length, 0)
    assert.equal(delivered + c.bytesDiscarded + c.bytesUnread, count * PIECE)
    assert.equal(c.bytesDiscarded, source.stats.bytesReceived - delivered)
    assert.ok(c.bytesUnread > 0)
    onlyCut(source, 'claim-clash')
  })

  it('an abort without a reason counts as "ended"', async () => {
    const source = await setup()
    const ac = new AbortController()
    const res = await drain(source, 0, 12, AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]), (p) => {
      if (p.index === 0) ac.abort()
    })
    assert.ok(res.error instanceof AbortedError)
    assert.equal(source.stats.cut.ended.requests, 1)
    onlyCut(source, 'ended')
  })

  it('a consumer that stops reading early counts as "ended"', async () => {
    const source = await setup()
    for await (const p of source.fetch(0, 12, AbortSignal.timeout(10_000))) if (p.index === 2) break
    assert.equal(source.stats.cut.ended.requests, 1)
    onlyCut(source, 'ended')
  })

  it('an idle stall mid-piece counts as "stall-idle"; the retry that finishes the range counts nothing', async () => {
    const afterBytes = PIECE + PIECE / 2
    let n = 0
    const source = await setup({ idleTimeoutMs: 150, maxRetries: 1 }, () => (++n === 1 ? { kind: 'stall', afterBytes } : undefined))
    const m = testManifest(data.length, PIECE)
    const res = await drain(source, 0, 4, AbortSignal.timeout(10_000))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(source.stats.requests, 2)
    const c = source.stats.cut['stall-idle']
    assert.equal(c.requests, 1)
    assert.equal(c.bytesDiscarded, PIECE / 2, 'the half piece is thrown away')
    assert.equal(c.bytesUnread, 4 * PIECE - afterBytes)
    onlyCut(source, 'stall-idle')
  })

  it('a body below the minimum rate counts as "stall-rate"', async () => {
    const source = await setup({ idleTimeoutMs: 30_000, minRateBytesPerSec: 1024 * 1024, minRateWindowMs: 200, maxRetries: 0 },
      () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 256 }))
    const res = await drain(source, 0, 2, AbortSignal.timeout(10_000))
    assert.ok(res.error !== undefined)
    const c = source.stats.cut['stall-rate']
    assert.equal(c.requests, 1)
    assert.equal(c.bytesDiscarded + c.bytesUnread, 2 * PIECE)
    onlyCut(source, 'stall-rate')
  })

  it('a connection reset mid-body counts as "error"', async () => {
    let n = 0
    const source = await setup({ maxRetries: 0 }, () => (++n === 1 ? { kind: 'reset', afterBytes: PIECE / 4 } : undefined))
    const res = await drain(source, 0, 4, AbortSignal.timeout(10_000))
    assert.ok(res.error !== undefined)
    const c = source.stats.cut.error
    assert.equal(c.requests, 1)
    assert.equal(c.bytesDiscarded + c.bytesUnread, 4 * PIECE)
    onlyCut(source, 'error')
  })

  it('closing the source mid-body counts as "ended"', async () => {
    const source = await setup()
    const res = await drain(source, 0, 12, AbortSignal.timeout(10_000), async (p) => {
      if (p.index === 0) await source.close()
    })
    assert.ok(res.error instanceof AbortedError)
    assert.equal(source.stats.cut.ended.requests, 1)
    onlyCut(source, 'ended')
  })
})

describe('the minimum-rate rule on a shared origin link', () => {
  const P = 4 * KiB
  const small = testData(64 * P, 5)
  const limits = { idleTimeoutMs: 30_000, minRateBytesPerSec: 64 * KiB, minRateWindowMs: 100, maxRetries: 0 }

  async function twoConnections (): Promise<HttpSource> {
    // the request for pieces 0-1 trickles (~25 KB/s, below the minimum alone);
    // every other request flows at ~200 KB/s, so the origin as a whole is well above it
    const origin = await startOrigin({
      data: small,
      behaviour: (req) => req.range?.start === 0
        ? { kind: 'trickle', intervalMs: 10, bytesPerTick: 256 }
        : { kind: 'trickle', intervalMs: 5, bytesPerTick: 1024 }
    })
    const source = new HttpSource({ url: origin.url, manifest: testManifest(small.length, P), ...FAST, ...limits })
    cleanup.push(async () => { await source.close(); await origin.close() })
    return source
  }

  it('a slow connection is not cut while the origin as a whole delivers more than the minimum', async () => {
    const source = await twoConnections()
    const [slow, fast] = await Promise.all([
      drain(source, 0, 2, AbortSignal.timeout(10_000)),
      drain(source, 2, 32, AbortSignal.timeout(10_000))
    ])
    assert.equal(fast.error, undefined)
    assert.equal(slow.error, undefined, 'the slow connection delivered its share')
    assertPieces(slow.pieces, 0, small, testManifest(small.length, P))
    onlyCut(source, undefined)
  })

  it('alone, the same slow connection is cut (a trickling origin, THREATS T5)', async () => {
    const source = await twoConnections()
    const slow = await drain(source, 0, 2, AbortSignal.timeout(10_000))
    assert.ok(slow.error !== undefined)
    assert.equal(source.stats.cut['stall-rate'].requests, 1)
  })
})
