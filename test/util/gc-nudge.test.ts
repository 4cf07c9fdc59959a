import test from 'node:test'
import assert from 'node:assert/strict'
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import { runInNewContext } from 'node:vm'
import { pieceCount } from '../../src/manifest/types.js'
import { lookup } from 'node:dns'
import { HttpSource } from '../../src/origin/index.js'
import { RangeRequest } from '../../src/origin/range-request.js'
import { DEFAULT_GC_NUDGE_BYTES, GcNudge, sharedGcNudge, v8MinorCollector } from '../../src/util/gc-nudge.js'
import { drain, FAST, testData, testManifest } from '../helpers/origin-fixtures.js'
import { startOrigin } from '../helpers/origin-server.js'

test('gc nudge: one collection per everyBytes of input; bad settings refused', () => {
  let calls = 0
  const nudge = new GcNudge({ everyBytes: 100, collect: () => { calls++ } })
  nudge.bytes(60)
  assert.equal(calls, 0)
  nudge.bytes(60)
  assert.equal(calls, 1, 'crossing 100 bytes collects once')
  nudge.bytes(99)
  assert.equal(calls, 1, 'the count starts again after a collection')
  nudge.bytes(1)
  nudge.bytes(250)
  assert.equal(calls, 3)
  assert.equal(nudge.collections, 3)
  assert.throws(() => new GcNudge({ everyBytes: 0 }), RangeError)
  assert.throws(() => new GcNudge({ everyBytes: 1.5 }), RangeError)
  assert.equal(new GcNudge().everyBytes, DEFAULT_GC_NUDGE_BYTES)
  assert.equal(DEFAULT_GC_NUDGE_BYTES, 4 * 1024 * 1024, 'the documented default')
})

test('gc nudge: the V8 collector runs a real minor collection and leaves no gc global behind', async () => {
  const collect = v8MinorCollector()
  assert.equal(typeof collect, 'function', 'this Node offers the gc extension')
  const kinds: number[] = []
  const obs = new PerformanceObserver(list => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) kinds.push(e.detail?.kind ?? -1)
  })
  obs.observe({ entryTypes: ['gc'] })
  try {
    collect?.()
    // gc entries are delivered asynchronously
    for (let i = 0; i < 50 && !kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR); i++) await new Promise(resolve => setTimeout(resolve, 10))
  } finally {
    obs.disconnect()
  }
  assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MINOR), `a minor collection was observed (kinds: ${kinds.join(',')})`)
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined')
  assert.equal(runInNewContext('typeof gc'), 'undefined', 'new contexts do not get gc either')
})

test('gc nudge: body bytes read through node:http count towards the process-wide nudge; our own client\'s do not', async (t) => {
  const piece = 256 * 1024
  const data = testData(16 * 1024 * 1024)
  const m = testManifest(data.length, piece)
  const origin = await startOrigin({ data })
  t.after(async () => { await origin.close() })

  // node:http (what https: origins use): every chunk is a fresh allocation, so the nudge is asked
  let before = sharedGcNudge().collections
  const signal = AbortSignal.timeout(30_000)
  const req = new RangeRequest({
    url: new URL(origin.url),
    lookup,
    manifest: m,
    first: 0,
    count: pieceCount(m),
    signal,
    limits: { idleTimeoutMs: 10_000, minRateBytesPerSec: 0, minRateWindowMs: 10_000 },
    retryAfterCapMs: 1000,
    onBytes: () => {}
  })
  assert.deepEqual(await req.start(), { kind: 'body' })
  let pieces = 0
  while (await req.next() !== null) pieces++
  req.close()
  assert.equal(pieces, pieceCount(m))
  const expected = Math.floor(data.length / sharedGcNudge().everyBytes) - 1
  assert.ok(sharedGcNudge().collections - before >= expected, `at least ${expected} collections for ${data.length} bytes, saw ${sharedGcNudge().collections - before}`)

  // an http: HttpSource runs on our client: one reused read buffer, nothing to collect
  const source = new HttpSource({ url: origin.url, manifest: m, ...FAST, idleTimeoutMs: 10_000, minRateWindowMs: 10_000 })
  t.after(async () => { await source.close() })
  before = sharedGcNudge().collections
  const res = await drain(source, 0, pieceCount(m), AbortSignal.timeout(30_000))
  assert.equal(res.error, undefined)
  assert.equal(sharedGcNudge().collections - before, 0)
})
