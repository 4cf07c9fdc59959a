/**
 * THREATS C4 / T3 / T4 / T5 against a real misbehaving origin on loopback.
 * Every case must end with all pieces yielded and correct, or a clean
 * OriginError — never a wrong-length piece, never a hang.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { OriginError } from '../../src/errors.js'
import { pieceCount, pieceOffset } from '../../src/manifest/types.js'
import { HttpSource, type HttpSourceInit } from '../../src/origin/index.js'
import { assertPieces, drain, FAST, testData, testManifest, type Drained } from '../helpers/origin-fixtures.js'
import { startOrigin, type Behaviour, type Origin, type OriginContext, type OriginRequest } from '../helpers/origin-server.js'

const PIECE = 16 * 1024
const data = testData(17 * PIECE - 1000)
const m = testManifest(data.length, PIECE)
const N = pieceCount(m)
const DEADLINE_MS = 5000

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanup.map(async f => await f()))
  cleanup = []
})

/** Start an origin with `behaviour`, fetch pieces first..first+count-1 through a fresh source. */
async function run (
  behaviour: (req: OriginRequest, ctx: OriginContext) => Behaviour | undefined,
  init: Partial<HttpSourceInit> = {}, first = 0, count = N, payload: Uint8Array = data, manifest = m
): Promise<Drained & { origin: Origin, source: HttpSource }> {
  const origin = await startOrigin({ data: payload, behaviour })
  const source = new HttpSource({ url: origin.url, manifest, ...FAST, ...init })
  cleanup.push(async () => { await source.close(); await origin.close() })
  const res = await drain(source, first, count, AbortSignal.timeout(DEADLINE_MS))
  return { ...res, origin, source }
}

function assertOriginError (res: Drained, retryable: boolean, message: RegExp): OriginError {
  assert.ok(res.error instanceof OriginError, `expected OriginError, got ${String(res.error)}`)
  assert.equal(res.error.retryable, retryable)
  assert.match(res.error.message, message)
  return res.error
}

const once = (b: Behaviour) => (_r: OriginRequest, ctx: OriginContext): Behaviour | undefined => ctx.n === 1 ? b : undefined
const always = (b: Behaviour) => (): Behaviour => b

describe('honest variants', () => {
  it('a chunked 206 without Content-Length is read to its end', async () => {
    const res = await run(always({ kind: 'chunked' }))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N)
  })

  it('more concurrent fetches than connections queue and all complete', async () => {
    const origin = await startOrigin({ data })
    const source = new HttpSource({ url: origin.url, manifest: m, ...FAST, connections: 2 })
    cleanup.push(async () => { await source.close(); await origin.close() })
    const runs = [[0, 4], [4, 4], [8, 4], [12, N - 12]] as const
    const results = await Promise.all(runs.map(async ([f, c]) => await drain(source, f, c, AbortSignal.timeout(DEADLINE_MS))))
    results.forEach((r, i) => {
      assert.equal(r.error, undefined)
      assertPieces(r.pieces, runs[i]![0], data, m)
      assert.equal(r.pieces.length, runs[i]![1])
    })
    assert.ok(origin.connectionsAccepted <= 2)
  })
})

describe('origin faults: retryable, then recovered', () => {
  it('503 with Retry-After (seconds) is retried after the advertised delay', async () => {
    const res = await run(once({ kind: 'status', status: 503, retryAfter: '0' }))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N)
    assert.equal(res.origin.requests, 2)
  })

  it('429 with an HTTP-date Retry-After, capped by retryAfterCapMs', async () => {
    const later = new Date(Date.now() + 3_600_000).toUTCString()
    const res = await run(once({ kind: 'status', status: 429, retryAfter: later }), { retryAfterCapMs: 100 })
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.ok(res.ms >= 90, `waited the capped delay (${res.ms} ms)`)
    assert.ok(res.ms < 2000, 'did not wait an hour')
  })

  it('connection reset mid-body resumes at the first piece not yet yielded', async () => {
    const res = await run(once({ kind: 'reset', afterBytes: 3 * PIECE + 100 }))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N)
    assert.equal(res.origin.log.length, 2)
    assert.equal(res.origin.log[1]?.rangeHeader, `bytes=${pieceOffset(m, 3)}-${data.length - 1}`)
  })

  it('truncated body (clean close) resumes too', async () => {
    const res = await run(once({ kind: 'truncate', afterBytes: 5 * PIECE - 1 }))
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N)
    assert.equal(res.origin.log[1]?.rangeHeader, `bytes=${pieceOffset(m, 4)}-${data.length - 1}`)
  })

  it('a stall after some pieces is detected by the idle timeout and retried', async () => {
    const res = await run(once({ kind: 'stall', afterBytes: 2 * PIECE }), { idleTimeoutMs: 150 })
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N)
    assert.equal(res.origin.requests, 2)
  })
})

describe('origin faults: retryable, never recovered', () => {
  it('503 forever gives up after maxRetries with the capped Retry-After', async () => {
    const res = await run(always({ kind: 'status', status: 503, retryAfter: '1' }), { maxRetries: 2, retryAfterCapMs: 20 })
    const err = assertOriginError(res, true, /HTTP 503.*gave up after 3 attempts/)
    assert.equal(err.retryAfterMs, 20)
    assert.equal(res.origin.requests, 3)
    assert.equal(res.pieces.length, 0)
  })

  it('headers then silence: stall error, bounded time', async () => {
    const res = await run(always({ kind: 'stall' }), { idleTimeoutMs: 100, maxRetries: 1 })
    assertOriginError(res, true, /stall/)
    assert.equal(res.origin.requests, 2)
    assert.ok(res.ms < 1500, `${res.ms} ms`)
  })

  it('no response at all: the idle timeout covers the wait for headers', async () => {
    const res = await run(always({ kind: 'silent' }), { idleTimeoutMs: 100, maxRetries: 1 })
    assertOriginError(res, true, /stalled: no data for \d+ ms/)
    assert.equal(res.origin.requests, 2)
    assert.ok(res.ms < 1500, `${res.ms} ms`)
  })

  it('trickle (1 byte / 10 ms) trips the minimum-rate rule', async () => {
    const res = await run(always({ kind: 'trickle', intervalMs: 10 }), { idleTimeoutMs: 1000, minRateWindowMs: 200, maxRetries: 0 })
    assertOriginError(res, true, /stalled: \d+ B\/s .* below the minimum/)
    assert.equal(res.pieces.length, 0)
    assert.ok(res.ms < 1500, `${res.ms} ms`)
  })

  it('reset on every attempt: pieces delivered so far stand, then a clean error', async () => {
    const res = await run((_r, ctx) => ({ kind: 'reset', afterBytes: ctx.n === 1 ? 2 * PIECE + 5 : 10 }), { maxRetries: 2 })
    assertOriginError(res, true, /gave up after 3 attempts/)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, 2)
  })
})

describe('origin faults: misbehaviour, not retried', () => {
  it('200 instead of 206: refused without reading the (large) body', async () => {
    const big = testData(64 * 1024 * 1024, 7)
    const bigM = testManifest(big.length, 1024 * 1024)
    const res = await run(always({ kind: 'ignore-range' }), {}, 0, 2, big, bigM)
    assertOriginError(res, false, /ignored the Range request \(HTTP 200/)
    assert.equal(res.source.stats.bytesReceived, 0)
    assert.equal(res.origin.requests, 1)
    // Give the server a moment to notice the hang-up, then check it stopped far short of the file.
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(res.origin.bytesSent < big.length / 2, `server sent ${res.origin.bytesSent} bytes`)
  })

  it('Content-Length larger than the range (huge) is refused before reading', async () => {
    const res = await run(always({ kind: 'lie-length', contentLength: 2 ** 40 }))
    assertOriginError(res, false, /Content-Length 1099511627776 does not match/)
    assert.equal(res.source.stats.bytesReceived, 0)
    assert.equal(res.origin.requests, 1)
  })

  it('Content-Length smaller than the range is refused', async () => {
    const res = await run(always({ kind: 'lie-length', contentLength: 10 }))
    assertOriginError(res, false, /Content-Length 10 does not match/)
  })

  it('wrong Content-Range offset is refused', async () => {
    const res = await run(always({ kind: 'content-range', value: `bytes 1-${data.length}/${data.length + 1}` }))
    assertOriginError(res, false, /does not match requested 0-/)
    assert.equal(res.pieces.length, 0)
  })

  it('Content-Range with another file size is refused', async () => {
    const res = await run(always({ kind: 'content-range', value: `bytes 0-${data.length - 1}/${data.length + 5}` }))
    assertOriginError(res, false, /size \d+ does not match manifest size/)
  })

  it('404 is not retried', async () => {
    const res = await run(always({ kind: 'status', status: 404 }))
    assertOriginError(res, false, /HTTP 404/)
    assert.equal(res.origin.requests, 1)
  })

  it('endless body: reads stop at the range; the excess is an error', async () => {
    const res = await run(always({ kind: 'endless' }))
    assertOriginError(res, false, /body longer than the requested/)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(res.pieces.length, N, 'the bytes inside the range still make pieces')
    assert.equal(res.source.stats.bytesReceived, data.length, 'not one byte past the range')
    assert.equal(res.origin.requests, 1)
  })

  it('wrong bytes are passed on with the right length (the store hashes, not the source)', async () => {
    const bad = new Set([2, 9])
    const res = await run(always({ kind: 'corrupt', offsets: [...bad].map(i => pieceOffset(m, i) + 7) }))
    assert.equal(res.error, undefined)
    assert.equal(res.pieces.length, N)
    assertPieces(res.pieces, 0, data, m, bad)
  })
})
