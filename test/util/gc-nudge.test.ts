import test from 'node:test'
import assert from 'node:assert/strict'
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import { runInNewContext } from 'node:vm'
import { pieceCount } from '../../src/manifest/types.js'
import { HttpSource } from '../../src/origin/index.js'
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

test('gc nudge: body bytes from the HTTP origin count towards the process-wide nudge', async (t) => {
  const piece = 256 * 1024
  const data = testData(16 * 1024 * 1024)
  const m = testManifest(data.length, piece)
  const origin = await startOrigin({ data })
  const source = new HttpSource({ url: origin.url, manifest: m, ...FAST, idleTimeoutMs: 10_000, minRateWindowMs: 10_000 })
  t.after(async () => { await source.close(); await origin.close() })
  const before = sharedGcNudge().collections
  const res = await drain(source, 0, pieceCount(m), AbortSignal.timeout(30_000))
  assert.equal(res.error, undefined)
  const expected = Math.floor(data.length / sharedGcNudge().everyBytes) - 1
  assert.ok(sharedGcNudge().collections - before >= expected, `at least ${expected} collections for ${data.length} bytes, saw ${sharedGcNudge().collections - before}`)
})
