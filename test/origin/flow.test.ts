/** Backpressure, bounded memory and cancellation of HttpSource. */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { AbortedError } from '../../src/errors.js'
import { pieceCount } from '../../src/manifest/types.js'
import { HttpSource, type HttpSourceInit } from '../../src/origin/index.js'
import { assertPieces, drain, FAST, testData, testManifest } from '../helpers/origin-fixtures.js'
import { startOrigin, type Behaviour, type Origin } from '../helpers/origin-server.js'

const MiB = 1024 * 1024
const big = testData(24 * MiB + 4321, 11)

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanup.map(async f => await f()))
  cleanup = []
})

async function setup (pieceSize: number, init: Partial<HttpSourceInit> = {}, behaviour?: () => Behaviour | undefined): Promise<{ origin: Origin, source: HttpSource, m: ReturnType<typeof testManifest> }> {
  const origin = await startOrigin(behaviour === undefined ? { data: big } : { data: big, behaviour })
  const m = testManifest(big.length, pieceSize)
  const source = new HttpSource({ url: origin.url, manifest: m, ...FAST, ...init })
  cleanup.push(async () => { await source.close(); await origin.close() })
  return { origin, source, m }
}

const delay = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function until (cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms
  while (performance.now() < end) {
    if (cond()) return true
    await delay(5)
  }
  return cond()
}

describe('backpressure', () => {
  it('small pieces spanning chunks, irregular slow consumer: every byte right', async () => {
    const { source, m } = await setup(16 * 1024)
    const n = pieceCount(m)
    let k = 0
    const res = await drain(source, 0, n, AbortSignal.timeout(10_000), async () => {
      if (++k % 97 === 0) await delay(2)
    })
    assert.equal(res.error, undefined)
    assert.equal(res.pieces.length, n)
    assertPieces(res.pieces, 0, big, m)
  })

  it('random chunk boundaries and a random consumer: every byte right', async () => {
    const data = big.subarray(0, 3 * MiB + 777)
    for (const seed of [1, 2, 3]) {
      const origin = await startOrigin({ data, behaviour: () => ({ kind: 'fragment', maxBytes: 50_000, seed }) })
      const m = testManifest(data.length, 16 * 1024)
      const source = new HttpSource({ url: origin.url, manifest: m, ...FAST })
      cleanup.push(async () => { await source.close(); await origin.close() })
      let x = seed
      const res = await drain(source, 3, pieceCount(m) - 3, AbortSignal.timeout(10_000), async () => {
        x = (x * 1103515245 + 12345) % 2 ** 31
        if (x % 7 === 0) await delay(1)
        else if (x % 3 === 0) await new Promise(resolve => setImmediate(resolve))
      })
      assert.equal(res.error, undefined)
      assert.equal(res.pieces.length, pieceCount(m) - 3)
      assertPieces(res.pieces, 3, data, m)
    }
  })

  it('holds at most one piece beyond the yielded one while the consumer waits', async () => {
    const piece = MiB
    const { source, m } = await setup(piece)
    let seen = -1
    const res = await drain(source, 0, pieceCount(m), AbortSignal.timeout(10_000), async (p) => {
      if (p.index === 0) {
        await delay(200)
        seen = source.stats.bytesReceived
      }
    })
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, big, m)
    // piece 0 (yielded) + piece 1 (ready) + at most one socket read (≤ ~128 KiB) held for piece 2
    assert.ok(seen <= 2 * piece + 256 * 1024, `received ${seen} bytes while the consumer sat on piece 0`)
    assert.ok(seen >= 2 * piece, 'the next piece was prefetched')
  })

  it('time paused for a slow consumer is not a stall', async () => {
    const { source, m } = await setup(MiB, { idleTimeoutMs: 150, minRateWindowMs: 150, maxRetries: 0 })
    const res = await drain(source, 0, 8, AbortSignal.timeout(10_000), async (p) => {
      if (p.index < 3) await delay(300)
    })
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, big, m)
    assert.equal(source.stats.requests, 1)
  })
})

describe('cancellation', () => {
  it('abort mid-download stops promptly and hangs up', async () => {
    const { origin, source, m } = await setup(MiB)
    const ac = new AbortController()
    let abortedAt = 0
    const res = await drain(source, 0, pieceCount(m), AbortSignal.any([ac.signal, AbortSignal.timeout(10_000)]), (p) => {
      if (p.index === 1) { abortedAt = performance.now(); ac.abort() }
    })
    // The abort lands on the next pull; make sure it did not wait for the body.
    assert.ok(res.error instanceof AbortedError, String(res.error))
    assert.ok(performance.now() - abortedAt < 200)
    assert.equal(res.pieces.length, 2)
    assert.ok(await until(() => origin.connections === 0, 1000), 'connection closed')
    const got = source.stats.bytesReceived
    await delay(50)
    assert.equal(source.stats.bytesReceived, got, 'no more bytes after abort')
  })

  it('abort while the origin is silent rejects at once', async () => {
    const { source } = await setup(MiB, { idleTimeoutMs: 30_000, minRateBytesPerSec: 0 }, () => ({ kind: 'stall' }))
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const res = await drain(source, 0, 2, ac.signal)
    assert.ok(res.error instanceof AbortedError)
    assert.ok(res.ms < 500, `${res.ms} ms`)
  })

  it('abort during a Retry-After wait rejects at once', async () => {
    const { source, origin } = await setup(MiB, { retryAfterCapMs: 30_000 }, () => ({ kind: 'status', status: 503, retryAfter: '30' }))
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const res = await drain(source, 0, 2, ac.signal)
    assert.ok(res.error instanceof AbortedError)
    assert.ok(res.ms < 500, `${res.ms} ms`)
    assert.equal(origin.requests, 1)
  })

  it('abort while queued behind a busy connection rejects at once', async () => {
    const { source } = await setup(MiB, { connections: 1, idleTimeoutMs: 30_000, minRateBytesPerSec: 0 }, () => ({ kind: 'stall' }))
    const first = new AbortController()
    const busy = drain(source, 0, 1, first.signal)
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 50)
    const queued = await drain(source, 1, 1, ac.signal)
    assert.ok(queued.error instanceof AbortedError)
    assert.ok(queued.ms < 500)
    first.abort()
    assert.ok((await busy).error instanceof AbortedError)
  })

  it('a consumer that stops early releases the connection, and the source stays usable', async () => {
    const { origin, source, m } = await setup(MiB, { connections: 1 })
    for await (const p of source.fetch(0, pieceCount(m), AbortSignal.timeout(10_000))) {
      if (p.index === 2) break
    }
    assert.ok(await until(() => origin.connections === 0, 1000), 'abandoned body: connection closed')
    const res = await drain(source, 5, 2, AbortSignal.timeout(10_000))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 5, big, m)
  })
})
