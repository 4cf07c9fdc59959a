/**
 * The simulation benchmark (bench/sim): engine ordering, bandwidth sharing,
 * and small deterministic runs of the real scheduling code.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { defaultConfig, lowerBoundMs, MiB } from '../../bench/sim/config.js'
import { Engine } from '../../bench/sim/engine.js'
import { hashStats, installHashMemo } from '../../bench/sim/hash-memo.js'
import { FlowNet } from '../../bench/sim/net.js'
import { seeded } from '../../bench/sim/rng.js'
import { simulate } from '../../bench/sim/world.js'

test('engine: time order, then scheduling order; cancelled events are skipped', () => {
  const e = new Engine()
  const seen: string[] = []
  e.at(5, () => { seen.push('b5') })
  e.at(1, () => { seen.push('a1'); e.after(0, () => { seen.push('a1+0') }) })
  e.at(5, () => { seen.push('c5') })
  const x = e.at(3, () => { seen.push('x3') })
  x.cancelled = true
  e.at(2, () => { seen.push('d2') })
  e.run()
  assert.deepEqual(seen, ['a1', 'a1+0', 'd2', 'b5', 'c5'])
  assert.equal(e.now, 5)
})

test('engine: run stops at `until` and on the stop predicate', () => {
  const e = new Engine()
  let n = 0
  e.every(10, 0, () => { n++; return true })
  e.run(95)
  assert.equal(n, 10) // t = 0, 10, …, 90
  e.run(Infinity, () => n >= 12)
  assert.equal(n, 12)
})

test('flow net: an uplink is shared equally and re-shared when a flow ends', () => {
  const e = new Engine()
  // endpoint 0 uploads 1000 B/ms; 1 and 2 download fast
  const net = new FlowNet(e, [1000, 1000, 1000], [Infinity, 1e9, 1e9])
  const done: Record<string, number> = {}
  net.start(0, 1, 1000, () => { done.a = e.now })
  net.start(0, 2, 3000, () => { done.b = e.now })
  e.run()
  // both at 500 B/ms until a ends at 2 ms (1000 B); b has 2000 B left, alone at 1000 B/ms → 4 ms
  assert.equal(done.a, 2)
  assert.equal(done.b, 4)
  assert.equal(net.sentBy[0], 4000)
})

test('flow net: a flow runs at the tighter of its two shares; cancel keeps the bytes sent', () => {
  const e = new Engine()
  // 0 → 2 and 1 → 2: 2's downlink (600 B/ms) is the bottleneck, 300 B/ms each
  const net = new FlowNet(e, [1000, 1000, 1000], [1e9, 1e9, 600])
  let end = 0
  const f = net.start(0, 2, 3000, () => { assert.fail('cancelled') })
  net.start(1, 2, 3000, () => { end = e.now })
  e.at(5, () => { net.cancel(f) }) // f sent 1500 B by then; the other gets 600 B/ms for its last 1500 B
  e.run()
  assert.equal(net.sentBy[0], 1500)
  assert.equal(end, 7.5)
})

test('seeded PRNG is deterministic and in [0, 1)', () => {
  const a = seeded(7); const b = seeded(7); const c = seeded(8)
  const xs = Array.from({ length: 1000 }, a)
  assert.deepEqual(xs, Array.from({ length: 1000 }, b))
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, c))
  assert.ok(xs.every(x => x >= 0 && x < 1))
})

test('hash memo returns the real SHA-256', () => {
  const inputs = [['12D3KooWabc', ':', '3'], ['x', ':', '0'], ['12D3KooWabc', ':', '3']]
  const before = inputs.map(p => p.reduce((h, s) => h.update(s), createHash('sha256')).digest('hex'))
  installHashMemo()
  const calls = hashStats.calls
  const after = inputs.map(p => p.reduce((h, s) => h.update(s), createHash('sha256')).digest('hex'))
  assert.deepEqual(after, before)
  assert.equal(hashStats.calls - calls, 3)
  // non-string input falls through to the real hash
  assert.equal(createHash('sha256').update(Buffer.from('ab')).update('c').digest('hex'), createHash('sha256').update('abc').digest('hex'))
})

test('lower bound: max(S/d, S/u_origin, N·S/(u_origin + N·u_peer))', () => {
  const c = { n: 10, fileBytes: 100e6, nodeUpMbps: 100, nodeDownMbps: 100, originUpMbps: 50 }
  assert.equal(lowerBoundMs(c), 100e6 / 6250) // the origin at 50 Mbit/s = 6250 B/ms
  assert.ok(Math.abs(lowerBoundMs({ ...c, originUpMbps: 1000 }) - 100e6 / 12500) < 1e-6) // the downlink
})

const small = (over = {}): ReturnType<typeof defaultConfig> => defaultConfig({ n: 10, fileBytes: 16 * MiB, seed: 3, verify: true, ...over })

test('N = 10 flash crowd: every node completes, about one origin copy, deterministic', () => {
  const a = simulate(small())
  assert.equal(a.completed, 10)
  assert.equal(a.failed, 0)
  assert.ok(a.originCopies >= 1 && a.originCopies <= 1.05, `origin copies ${a.originCopies}`)
  assert.ok(a.ratioToBound >= 1, 'never faster than the lower bound')
  assert.equal(a.links.min, 9) // full mesh below the link limit
  // verify mode cross-checked every mayFetch shortcut against the real coordinator
  assert.ok(a.counters.mayFetchReal === a.counters.mayFetchCalls && a.counters.mayFetchCalls > 0)
  const b = simulate(small())
  assert.deepEqual(b.completionMs, a.completionMs)
  assert.equal(b.originCopies, a.originCopies)
  assert.equal(b.events, a.events)
})

test('without origin coordination the same swarm fetches several copies', () => {
  const real = simulate(small())
  const off = simulate(small({ ownership: 'off' }))
  assert.equal(off.completed, 10)
  assert.ok(off.originCopies >= 2 * real.originCopies, `off ${off.originCopies} vs real ${real.originCopies}`)
})

test('staggered starts over 20 s: still about one origin copy', () => {
  const r = simulate(small({ startSpreadMs: 20_000, n: 12 }))
  assert.equal(r.completed, 12)
  assert.ok(r.originCopies <= 1.25, `origin copies ${r.originCopies}`)
})

test('static peer started late is redialled; the swarm still forms and fetches about one copy', () => {
  const r = simulate(small({ n: 8, discovery: 'static', startSpreadMs: 3000 }))
  assert.equal(r.completed, 8)
  assert.equal(r.links.min, 7)
  assert.ok(r.originCopies <= 1.05, `origin copies ${r.originCopies}`)
})

test('request deadlines: a deep upload queue times requests out and the download still completes', () => {
  // one slow uploader per node and a short deadline make requests wait past it
  const r = simulate(small({ n: 12, requestTimeoutMs: 300, uploadSlots: 1 }))
  assert.equal(r.completed, 12)
  assert.ok(r.counters.timeouts > 0)
})

test('connection limit: no node holds more than maxConnections; refused dials leave the swarm complete', () => {
  const r = simulate(small({ n: 30, maxConnections: 12, dialCandidates: 20 }))
  assert.equal(r.completed, 30)
  assert.ok(r.connections.max <= 12, `max connections ${r.connections.max}`)
  assert.ok(r.counters.dialsRefused > 0)
  assert.ok(r.links.max <= 12)
  // without the limit the same swarm connects further (peer exchange dials everyone it hears of)
  const open = simulate(small({ n: 30, maxConnections: Infinity, dialCandidates: 20 }))
  assert.equal(open.counters.dialsRefused, 0)
  assert.ok(open.connections.max > 12, `max connections ${open.connections.max}`)
})
