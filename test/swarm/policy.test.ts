import test from 'node:test'
import assert from 'node:assert/strict'
import { PiecePicker, type PickContext } from '../../src/swarm/picker.js'
import { SourceHealth } from '../../src/swarm/health.js'
import { OriginCoordinator } from '../../src/swarm/origin-coord.js'

function ctx (have: Set<number>, inflight: Map<number, number>, eligible: (i: number) => boolean = () => true): PickContext {
  return { have: i => have.has(i), inflight: i => inflight.get(i) ?? 0, eligible }
}

/**
 * A content session with an in-memory, empty store of `pieces` 64 KiB
 * pieces and a test clock (`clock.now`), for the origin-rule policy tests.
 */
async function policySession (clock: { now: number }, opts: { pieces?: number, selfId?: string, expectPeers?: boolean, discovering?: boolean, httpDelayMs?: number, earlyPeers?: string[] } = {}): Promise<InstanceType<typeof import('../../src/swarm/session.js').ContentSession>> {
  const { ContentSession } = await import('../../src/swarm/session.js')
  const { UploadScheduler } = await import('../../src/swarm/upload.js')
  const { Bitfield } = await import('../../src/util/bitfield.js')
  const { testManifest } = await import('../helpers/origin-fixtures.js')
  const pieces = opts.pieces ?? 16
  const manifest = testManifest(pieces * 65536, 65536)
  return new ContentSession({
    store: { manifest, have: new Bitfield(pieces), complete: false, read: async () => new Uint8Array(0), onDurable: undefined },
    selfId: opts.selfId ?? 'self',
    uploads: new UploadScheduler(),
    listenAddrs: () => [],
    requestTimeoutMs: 15_000,
    expectPeers: opts.expectPeers ?? false,
    ...(opts.discovering !== undefined ? { discovering: opts.discovering } : {}),
    ...(opts.httpDelayMs !== undefined ? { httpDelayMs: opts.httpDelayMs } : {}),
    ...(opts.earlyPeers !== undefined ? { earlyPeers: opts.earlyPeers } : {}),
    ban: () => {},
    discovered: () => {},
    now: () => clock.now
  })
}

test('pickRun coalesces consecutive free pieces from the random start and caps the run', () => {
  const p = new PiecePicker(20, () => 0) // start at 0
  const have = new Set([0, 1, 5])
  const inflight = new Map([[8, 1]])
  assert.deepEqual(p.pickRun(ctx(have, inflight), 16), { first: 2, count: 3 })
  assert.deepEqual(p.pickRun(ctx(new Set(), new Map()), 4), { first: 0, count: 4 })
  // a run never wraps past the last piece
  const q = new PiecePicker(20, () => 0.9) // start at 18
  assert.deepEqual(q.pickRun(ctx(new Set(), new Map()), 8), { first: 18, count: 2 })
  // ineligible pieces (policy says not from HTTP yet) break runs
  assert.deepEqual(p.pickRun(ctx(new Set(), new Map(), i => i % 3 !== 1), 8), { first: 0, count: 1 })
  assert.equal(p.pickRun(ctx(new Set(Array.from({ length: 20 }, (_, i) => i)), new Map()), 8), undefined)
})

test('random starts spread nodes over different parts of the file', () => {
  const starts = new Set<number>()
  for (const r of [0.05, 0.3, 0.55, 0.8]) starts.add(new PiecePicker(100, () => r).pickRun(ctx(new Set(), new Map()), 4)!.first)
  assert.equal(starts.size, 4)
})

test('pickRarest prefers the piece fewest peers hold and falls back to endgame duplicates', () => {
  const p = new PiecePicker(6, () => 0)
  for (const i of [0, 1, 2, 3, 4, 5]) p.addAvailable(i)
  for (const i of [0, 1, 2, 4, 5]) p.addAvailable(i)
  assert.equal(p.pickRarest(ctx(new Set(), new Map())), 3)
  p.removeAvailable(0); p.removeAvailable(0)
  assert.equal(p.pickRarest(ctx(new Set(), new Map())), 0)
  // not eligible (peer lacks it) is skipped
  assert.equal(p.pickRarest(ctx(new Set(), new Map(), i => i !== 0)), 3)
  // endgame: everything missing is in flight → least-loaded duplicate under the cap
  const inflight = new Map([[4, 2], [5, 1]])
  assert.equal(p.pickRarest({ ...ctx(new Set([0, 1, 2, 3]), inflight), endgame: true }), 5)
  assert.equal(p.pickRarest({ ...ctx(new Set([0, 1, 2, 3]), new Map([[4, 2], [5, 2]])), endgame: true }), undefined)
  // before the endgame a source with nothing new to give gets nothing (no premature duplicates)
  assert.equal(p.pickRarest(ctx(new Set([0, 1, 2, 3]), inflight)), undefined)
})

test('pickRarest enters a run of equally rare pieces anywhere, not at its first piece', () => {
  // the end of a download: every node lacks only pieces 165..172, which one
  // node has just fetched from the origin (availability 1 each). Each node
  // must not start on the same piece, or the holder feeds them one piece at a time.
  const run = [165, 166, 167, 168, 169, 170, 171, 172]
  const have = new Set(Array.from({ length: 256 }, (_, i) => i).filter(i => !run.includes(i)))
  let seed = 7
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  const firstPicks = new Map<number, number>()
  for (let node = 0; node < 400; node++) {
    const p = new PiecePicker(256, random)
    for (const i of run) p.addAvailable(i)
    const i = p.pickRarest(ctx(have, new Map()))
    assert.ok(i !== undefined && run.includes(i))
    firstPicks.set(i, (firstPicks.get(i) ?? 0) + 1)
  }
  assert.equal(firstPicks.size, run.length, `every piece of the run is somebody's first pick: ${JSON.stringify([...firstPicks])}`)
  for (const [i, n] of firstPicks) assert.ok(n <= 100, `piece ${i} is the first pick of ${n} of 400 nodes (even: 50)`)
  // one picker keeps drawing: the order differs between picks too
  const p = new PiecePicker(256, random)
  for (const i of run) p.addAvailable(i)
  const seen = new Set<number>()
  for (let k = 0; k < 40; k++) seen.add(p.pickRarest(ctx(have, new Map()))!)
  assert.ok(seen.size >= 6, `40 picks of one picker hit ${seen.size} of the 8 pieces`)
  // with random = 0 the scan is the plain one from piece 0 (sequential downloads)
  const q = new PiecePicker(256, () => 0)
  for (const i of run) q.addAvailable(i)
  assert.equal(q.pickRarest(ctx(have, new Map())), 165)
  // nobody else downloads (inOrder): file order, whatever the random draws
  for (let k = 0; k < 20; k++) assert.equal(p.pickRarest({ ...ctx(have, new Map()), inOrder: true }), 165)
})

test('the session asks for pieces in file order only while no other node downloads the content', async () => {
  const s = await policySession({ now: 0 })
  assert.equal(s.policy().inOrder?.(), true, 'alone (a leecher of seeders): file order, for the running file hash')
  s.coordinator.setDownloader('peerX', true)
  assert.equal(s.policy().inOrder?.(), false, 'another downloader: spread')
  s.coordinator.setDownloader('peerX', false)
  assert.equal(s.policy().inOrder?.(), true)
})

test('ban policy: a bad piece is never asked again from its sender; the second bans it', () => {
  const h = new SourceHealth()
  assert.equal(h.banThreshold, 2)
  assert.equal(h.badPiece('peer:a', 7), false)
  assert.equal(h.mayAsk('peer:a', 7), false)
  assert.equal(h.mayAsk('peer:a', 8), true)
  assert.equal(h.mayAsk('peer:b', 7), true)
  assert.equal(h.badPiece('peer:a', 7), false, 'the same piece twice is still one bad piece')
  assert.equal(h.badPiece('peer:a', 9), true)
  assert.equal(h.usable('peer:a'), false)
  assert.equal(h.isBanned('peer:a'), true)
  assert.deepEqual(h.banned(), ['peer:a'])
  assert.throws(() => new SourceHealth({ banThreshold: 0 }), RangeError)
})

test('availability failures retire a source after three in a row; success resets; fatal retires at once', () => {
  const h = new SourceHealth()
  h.failure('http:x', 'reset'); h.failure('http:x', 'reset')
  h.success('http:x')
  h.failure('http:x', 'reset'); h.failure('http:x', 'reset')
  assert.equal(h.usable('http:x'), true)
  assert.equal(h.failure('http:x', 'stall'), true)
  assert.equal(h.usable('http:x'), false)
  assert.equal(h.lastError('http:x'), 'stall')
  assert.equal(h.failure('http:y', '404', true), true)
  assert.equal(h.usable('http:y'), false)
})

test('a retirement with a cool-down ends by itself, doubling per retirement; revive ends it at once; bans stay', () => {
  let now = 0
  const h = new SourceHealth({ now: () => now })
  const retire = (): boolean => { h.failure('peer:a', 'timeout', false, 1000); h.failure('peer:a', 'timeout', false, 1000); return h.failure('peer:a', 'timeout', false, 1000) }
  assert.equal(retire(), true)
  assert.equal(h.usable('peer:a'), false)
  now = 999
  assert.equal(h.mayAsk('peer:a', 0), false)
  now = 1000
  assert.equal(h.usable('peer:a'), true, 'the cool-down passed')
  assert.equal(retire(), true)
  now = 2999
  assert.equal(h.usable('peer:a'), false, 'the second retirement lasts twice as long')
  now = 3000
  assert.equal(h.usable('peer:a'), true)
  assert.equal(retire(), true)
  h.revive('peer:a')
  assert.equal(h.usable('peer:a'), true, 'revived (linked again)')
  // a ban is not a retirement: revive does not lift it, time does not either
  h.badPiece('peer:a', 1); h.badPiece('peer:a', 2)
  h.revive('peer:a')
  now += 1e9
  assert.equal(h.usable('peer:a'), false)
  // without a cool-down (the origin) a retirement lasts
  h.failure('http:x', 'stall', true, 1000)
  now += 1e9
  assert.equal(h.usable('http:x'), false, 'fatal: no cool-down')
  for (let i = 0; i < 3; i++) h.failure('http:y', 'reset')
  now += 1e9
  assert.equal(h.usable('http:y'), false, 'no cool-down given')
})

test('origin coordination: owners split blocks, claims hold others back, delays expire', async () => {
  const { OriginCoordinator } = await import('../../src/swarm/origin-coord.js')
  let now = 0
  const ids = ['peerA', 'peerB', 'peerC', 'peerD']
  const coords = ids.map(selfId => new OriginCoordinator({ selfId, pieceCount: 1600, blockPieces: 16, settleMs: 1000, httpDelayMs: 5000, now: () => now, random: () => 0 }))
  for (const c of coords) for (const p of ids) if (p !== c.selfId) c.setDownloader(p, true)
  // every block has exactly one owner and all nodes agree on it
  const counts = new Map<string, number>()
  for (let block = 0; block < 100; block++) {
    const owners = new Set(coords.map(c => c.owner(block * 16)))
    assert.equal(owners.size, 1)
    const o = [...owners][0]
    counts.set(o, (counts.get(o) ?? 0) + 1)
    // pieces of one block share the owner, so owned runs coalesce
    assert.equal(coords[0].owner(block * 16 + 15), o)
  }
  for (const id of ids) assert.ok((counts.get(id) ?? 0) > 10, `${id} owns ${counts.get(id)} of 100 blocks`)
  // nothing from HTTP before the node has settled
  const a = coords[0]
  const mine = Array.from({ length: 1600 }, (_, i) => i).filter(i => a.owner(i) === 'peerA')
  const theirs = Array.from({ length: 1600 }, (_, i) => i).filter(i => a.owner(i) !== 'peerA')
  assert.equal(a.mayFetch(mine[0], false), false)
  now = 1000
  assert.equal(a.mayFetch(mine[0], true), true)
  assert.equal(a.mayFetch(theirs[0], true), false)
  // a claim holds even an owned piece back, until it expires or is released
  a.claim('peerB', [mine[0], mine[1]], 30_000)
  assert.equal(a.mayFetch(mine[0], true), false)
  a.release('peerB', [mine[1]])
  assert.equal(a.mayFetch(mine[1], true), true)
  now = 5999
  assert.equal(a.mayFetch(theirs[0], true), false)
  now = 31_001
  assert.equal(a.mayFetch(mine[0], true), true)
  // an owner we never heard from directly keeps its blocks (its claims cannot reach us yet)…
  const owner = a.owner(theirs[0])
  assert.equal(a.mayFetch(theirs[0], true), false)
  // …a linked owner silent for httpDelayMs loses them to whoever needs them
  a.seen(owner)
  now = 36_001
  assert.equal(a.mayFetch(theirs[0], true), true)
  // an owner that keeps showing signs of life keeps them…
  a.seen(owner)
  now = 40_000
  assert.equal(a.mayFetch(theirs[0], true), false)
  // …until it falls silent again, or has claimed nothing for OWNER_PATIENCE delays
  now = 41_001
  assert.equal(a.mayFetch(theirs[0], true), true)
  a.claim(owner, [theirs[1]], 30_000)
  now = 41_002
  assert.equal(a.mayFetch(theirs[0], true), false, 'alive and doing origin work')
  now = 41_001 + 12 * 5000
  a.seen(owner)
  assert.equal(a.mayFetch(theirs[0], true), true, 'alive but idle at the origin for OWNER_PATIENCE delays')
  // a departed peer's blocks move to the remaining nodes
  now = 2000
  const b = new OriginCoordinator({ selfId: 'peerA', pieceCount: 1600, now: () => now, settleMs: 0 })
  b.setDownloader('peerB', true)
  const ownedByB = Array.from({ length: 1600 }, (_, i) => i).filter(i => b.owner(i) === 'peerB')
  assert.ok(ownedByB.length > 0)
  b.claim('peerB', [ownedByB[0]], 30_000)
  b.peerGone('peerB')
  assert.equal(b.owner(ownedByB[0]), 'peerA')
  assert.equal(b.claimed(ownedByB[0]), false)
})

test('origin coordination: claimants counts the peers with live claims (the nodes sharing the origin)', async () => {
  const { OriginCoordinator } = await import('../../src/swarm/origin-coord.js')
  let now = 0
  const c = new OriginCoordinator({ selfId: 'a', pieceCount: 64, now: () => now })
  assert.equal(c.claimants(), 0)
  c.claim('b', [1, 2], 1000)
  c.claim('c', [3], 3000)
  c.claim('b', [4], 1000)
  assert.equal(c.claimants(), 2)
  now = 1500 // b's claims expired
  assert.equal(c.claimants(), 1)
  c.release('c', [3])
  assert.equal(c.claimants(), 0)
})

test('origin coordination: all agree on every block\'s owner, who heads its candidates, every node once', async () => {
  const { OriginCoordinator, blockOwners } = await import('../../src/swarm/origin-coord.js')
  // the LAN benchmark's shape: 20 nodes, a 256-piece file, 8-piece blocks
  const ids = Array.from({ length: 20 }, (_, k) => `node-${k}`)
  const coords = ids.map(selfId => new OriginCoordinator({ selfId, pieceCount: 256, now: () => 0 }))
  for (const c of coords) for (const p of ids) if (p !== c.selfId) c.setDownloader(p, true)
  for (let block = 0; block < 32; block++) {
    const owners = new Set(coords.map(c => c.owner(block * 8)))
    assert.equal(owners.size, 1, `block ${block}: all agree`)
    const cands = coords[0].candidates(block)
    assert.deepEqual([...cands].sort(), [...ids].sort(), 'every node is a candidate, once')
    assert.equal(cands[0], [...owners][0], 'the owner comes first')
  }
  // the owners do not depend on the order the ids come in; ties go to the smaller id
  const score = (id: string, b: number): number => (id.charCodeAt(id.length - 1) * 131 + b * 17) % 97
  assert.deepEqual(blockOwners(ids, 32, score), blockOwners([...ids].reverse(), 32, score))
  assert.deepEqual(blockOwners(['b', 'a'], 2, () => 1), ['a', 'a'])
})

test('origin coordination: owners follow every change of the downloader set (no stale cached order)', () => {
  const now = 0
  const owners = (c: OriginCoordinator): string[] => Array.from({ length: 100 }, (_, b) => c.owner(b * 16))
  const fresh = (ids: string[]): OriginCoordinator => {
    const c = new OriginCoordinator({ selfId: 'peerA', pieceCount: 1600, now: () => now, settleMs: 0 })
    for (const p of ids) c.setDownloader(p, true)
    return c
  }
  const c = fresh([])
  const steps: Array<[string, boolean]> = [['peerB', true], ['peerC', true], ['peerB', false], ['peerD', true], ['peerB', true], ['peerC', false]]
  const set = new Set<string>()
  assert.deepEqual(new Set(owners(c)), new Set(['peerA']))
  for (const [p, on] of steps) {
    c.setDownloader(p, on)
    if (on) set.add(p); else set.delete(p)
    assert.deepEqual(owners(c), owners(fresh([...set])), `after ${on ? 'adding' : 'removing'} ${p}`)
    // succession walks the same order: with everyone silent past the delay, a non-owned block is ours to fetch
    // only once every candidate ranked above us is silent — and a peer only heard of keeps it
    const theirs = Array.from({ length: 100 }, (_, b) => b * 16).find(i => c.owner(i) !== 'peerA')
    if (theirs !== undefined) assert.equal(c.mayFetch(theirs, true), false, 'an owner only heard of keeps its block')
  }
})

test('uploads: bounded concurrency and round-robin between peers', async () => {
  const { UploadScheduler } = await import('../../src/swarm/upload.js')
  const up = new UploadScheduler(2)
  const order: string[] = []
  let maxRunning = 0
  const gates: Array<() => void> = []
  const job = (name: string) => async () => {
    order.push(name)
    maxRunning = Math.max(maxRunning, up.running)
    await new Promise<void>(resolve => gates.push(resolve))
  }
  for (let i = 0; i < 6; i++) up.enqueue('greedy', job(`g${i}`))
  up.enqueue('polite', job('p0'))
  up.enqueue('other', job('o0'))
  assert.deepEqual(order, ['g0', 'g1'])
  while (gates.length > 0) { gates.shift()!(); await new Promise(resolve => setImmediate(resolve)) }
  assert.equal(maxRunning, 2)
  // after the first two, the waiting peers are served before the greedy one's third job
  assert.deepEqual(order.slice(2, 5).sort(), ['g2', 'o0', 'p0'])
  assert.equal(order.length, 8)
})

test('uploads: in one peer\'s queue the lowest rank goes first, unless the oldest job has waited RANK_MAX_WAIT_MS; peers still take turns', async () => {
  const { UploadScheduler, RANK_MAX_WAIT_MS } = await import('../../src/swarm/upload.js')
  let now = 0
  const up = new UploadScheduler(1, undefined, () => now)
  const order: string[] = []
  const gates: Array<() => void> = []
  const job = (name: string) => async () => { order.push(name); await new Promise<void>(resolve => gates.push(resolve)) }
  const next = async (): Promise<void> => { gates.shift()!(); for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve)) }
  const rank = new Map([['a3', 3], ['a1', 1], ['a2', 2], ['b0', 0]])
  up.enqueue('x', job('blocker'))
  for (const name of ['a3', 'a1', 'a2']) up.enqueue('a', job(name), 0, () => rank.get(name)!)
  up.enqueue('b', job('b0'), 0, () => rank.get('b0')!)
  await next()
  await next()
  await next()
  // a and b alternate (round robin); within a, rank order; ranks are asked when the slot frees
  assert.deepEqual(order, ['blocker', 'a1', 'b0', 'a2'])
  rank.set('late', 0)
  up.enqueue('a', job('late'), 0, () => rank.get('late')!)
  await next()
  assert.deepEqual(order.slice(4), ['late'], 'a newer job with a better rank overtakes a3')
  // an old job goes first whatever its rank
  up.enqueue('a', job('fresh'), 0, () => -1)
  now += RANK_MAX_WAIT_MS
  await next()
  assert.deepEqual(order.slice(5), ['a3'], 'a3 waited RANK_MAX_WAIT_MS')
  await next()
  assert.deepEqual(order.slice(6), ['fresh'])
  await next()
})

const MiB = 1024 * 1024

/**
 * An upload scheduler on a test clock (`clock.now`) whose jobs each report
 * 1 MiB sent, finishing only when their gate is opened (`gates`, in start
 * order); `settle` lets the scheduler react.
 */
async function gatedUploads (maxConcurrent: number): Promise<{ clock: { now: number }, up: InstanceType<typeof import('../../src/swarm/upload.js').UploadScheduler>, gates: Array<() => void>, job: () => () => Promise<number>, settle: () => Promise<void> }> {
  const { UploadScheduler } = await import('../../src/swarm/upload.js')
  const clock = { now: 0 }
  const up = new UploadScheduler(maxConcurrent, undefined, () => clock.now)
  const gates: Array<() => void> = []
  const job = () => async () => { await new Promise<void>(resolve => gates.push(resolve)); return MiB }
  const settle = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve)) }
  return { clock, up, gates, job, settle }
}

test('uploads: the expected wait grows with the bytes queued over the measured send rate', async () => {
  const { clock, up, gates, job, settle } = await gatedUploads(1)
  // each job "sends" 1 MiB in 10 ms of the fake clock: 100 MiB/s
  const finishOne = async (): Promise<void> => { clock.now += 10; gates.shift()!(); await settle() }
  for (let i = 0; i < 4; i++) up.enqueue('a', job(), MiB)
  assert.equal(up.expectedWaitMs(), 0, 'unknown rate: no estimate, nobody refused')
  for (let i = 0; i < 3; i++) await finishOne()
  // the rate is sampled over 500 ms at a time and trusted after three samples
  for (let i = 0; i < 200; i++) { up.enqueue('a', job(), MiB); await finishOne() }
  // one running, none queued: nothing to wait for
  assert.equal(up.queued('a'), 0)
  assert.equal(up.expectedWaitMs(), 0)
  for (let i = 0; i < 50; i++) up.enqueue('b', job(), MiB)
  const wait = up.expectedWaitMs()
  assert.ok(wait > 450 && wait < 550, `50 MiB queued at ~100 MiB/s ≈ 500 ms, got ${wait}`)
  up.drop('b')
  assert.equal(up.expectedWaitMs(), 0, 'dropped jobs are no longer waited for')
  while (gates.length > 0) await finishOne()
})

test('uploads: uploads that share the link and finish microseconds apart do not inflate the measured rate', async () => {
  const { clock, up, gates, job, settle } = await gatedUploads(8)
  // 8 uploads of 1 MiB share a 5 MiB/s link: every 1.6 s all 8 finish, 10 µs apart
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 8; i++) up.enqueue(`p${i}`, job(), MiB)
    await settle()
    clock.now += 1600
    for (let i = 0; i < 8; i++) { clock.now += 0.01; gates.shift()!(); await settle() }
  }
  for (let i = 0; i < 8; i++) up.enqueue(`p${i}`, job(), MiB) // these run
  for (let i = 0; i < 19; i++) up.enqueue(`q${i}`, job(), MiB) // these wait
  await settle()
  const wait = up.expectedWaitMs()
  // 19 MiB queued at 5 MiB/s is ~3.8 s; the old per-completion rate read ~100 GB/s here and said ~0
  assert.ok(wait > 3000 && wait < 4600, `expected wait ${wait} ms`)
  while (gates.length > 0) { clock.now += 10; gates.shift()!(); await settle() }
})

test('succession: a silent owner\'s block passes to exactly one successor, not to every waiting node', async () => {
  const { OriginCoordinator } = await import('../../src/swarm/origin-coord.js')
  let now = 0
  const ids = ['nodeA', 'nodeB', 'nodeC', 'nodeD', 'nodeE']
  for (let block = 0; block < 100; block++) {
    now = 0
    const coords = ids.map(selfId => new OriginCoordinator({ selfId, pieceCount: 800, blockPieces: 8, settleMs: 0, httpDelayMs: 5000, now: () => now, random: () => 0 }))
    for (const c of coords) for (const p of ids) if (p !== c.selfId) { c.setDownloader(p, true); c.seen(p) }
    const i = block * 8
    const owner = coords[0].owner(i)
    // while everyone talks, only the owner fetches
    assert.deepEqual(coords.filter(c => c.mayFetch(i, true)).map(c => c.selfId), [owner])
    // the owner falls silent: after the delay exactly one other node takes over
    now = 5001
    for (const c of coords) for (const p of ids) if (p !== c.selfId && p !== owner) c.seen(p)
    const takers = coords.filter(c => c.selfId !== owner && c.mayFetch(i, true)).map(c => c.selfId)
    assert.equal(takers.length, 1, `block ${block}: ${takers.join(',')}`)
  }
})

test('settling with mDNS discovery: no HTTP before the first peer links or the http-delay passes; without discovery, after the settle time', async () => {
  const clock = { now: 0 }
  const session = async (discovering: boolean): ReturnType<typeof policySession> => await policySession(clock, { discovering, httpDelayMs: 5000 })
  const lan = await session(true)
  const alone = await session(false)
  try {
    clock.now = 2000 // past the 1 s settle time and the 1 s quiet time; nobody has linked
    assert.equal(lan.policy().mayUseHttp?.(0), false, 'mDNS: still waiting for a peer to show up')
    assert.equal(alone.policy().mayUseHttp?.(0), true, 'no discovery: settled, and alone it owns every block')
    clock.now = 5001
    assert.equal(lan.policy().mayUseHttp?.(0), true, 'mDNS: nobody showed up within the http-delay')
  } finally {
    lan.close()
    alone.close()
  }
})

test('early phase: before settling, a node connected to peers at start fetches only the blocks it owns among them, one short request at a time', async () => {
  const { WARMUP_RUN_PIECES } = await import('../../src/swarm/session.js')
  const { DEFAULT_SETTLE_MS, DEFAULT_BLOCK_PIECES, OriginCoordinator } = await import('../../src/swarm/origin-coord.js')
  const clock = { now: 0 }
  const pieces = 64
  const ids = ['a', 'b', 'c']
  const sessions = await Promise.all(ids.map(async selfId => await policySession(clock, { pieces, selfId, discovering: true, httpDelayMs: 5000, earlyPeers: ids })))
  const none = await policySession(clock, { pieces, selfId: 'a', discovering: true, httpDelayMs: 5000 })
  try {
    const may = (s: typeof none, i: number): boolean => (s.policy().mayUseHttp as (i: number) => boolean)(i)
    clock.now = DEFAULT_SETTLE_MS - 1
    for (const s of sessions) for (let i = 0; i < pieces; i++) assert.equal(may(s, i), false, 'nothing before the settle time')
    clock.now = DEFAULT_SETTLE_MS + 1 // not settled: mDNS and nobody linked yet
    // every piece has exactly one early owner among the three, the one rendezvous hashing names
    const view = new OriginCoordinator({ selfId: 'a', pieceCount: pieces, now: () => 0 })
    view.setDownloader('b', true)
    view.setDownloader('c', true)
    for (let i = 0; i < pieces; i++) {
      const takers = sessions.filter(s => may(s, i)).map(s => s.coordinator.selfId)
      assert.deepEqual(takers, [view.owner(i)], `piece ${i}`)
    }
    assert.ok(sessions.every(s => Array.from({ length: pieces }, (_, i) => i).some(i => may(s, i))), 'each owns some block (64 pieces, blocks of ' + String(DEFAULT_BLOCK_PIECES) + ')')
    for (const s of sessions) {
      assert.equal(s.policy().maxHttpConcurrency?.(), 1, 'warm-up: one request')
      assert.equal(s.policy().maxHttpRun?.(), WARMUP_RUN_PIECES)
    }
    for (let i = 0; i < pieces; i++) assert.equal(may(none, i), false, 'no early peers: wait to settle as before')
    // a claim from a peer holds the early owner back too
    const a = sessions[0] as typeof none
    const mine = Array.from({ length: pieces }, (_, i) => i).find(i => may(a, i)) as number
    a.coordinator.claim('b', [mine], 30_000)
    assert.equal(may(a, mine), false, 'claimed by a peer')
  } finally {
    for (const s of sessions) s.close()
    none.close()
  }
})

test('static peers configured and none answering: HTTP only after the longest settle time, then one short request at a time until a peer answers', async () => {
  const { WARMUP_MS, WARMUP_RUN_PIECES } = await import('../../src/swarm/session.js')
  const { DEFAULT_MAX_SETTLE_MS } = await import('../../src/swarm/origin-coord.js')
  const clock = { now: 0 }
  const waiting = await policySession(clock, { expectPeers: true })
  const alone = await policySession(clock, { expectPeers: false })
  try {
    clock.now = DEFAULT_MAX_SETTLE_MS - 1
    assert.equal(waiting.policy().mayUseHttp?.(0), false, 'still waiting for a static peer')
    assert.equal(alone.policy().mayUseHttp?.(0), true)
    clock.now = DEFAULT_MAX_SETTLE_MS + 1
    assert.equal(waiting.policy().mayUseHttp?.(0), true, 'gave up waiting: the origin may be used')
    clock.now = DEFAULT_MAX_SETTLE_MS + 10 * WARMUP_MS
    assert.equal(waiting.policy().maxHttpConcurrency?.(), 1, 'one request at a time while no peer answered')
    assert.equal(waiting.policy().maxHttpRun?.(), WARMUP_RUN_PIECES)
    assert.equal(alone.policy().maxHttpConcurrency?.(), undefined, 'no peers configured: full speed after the warm-up')
    assert.equal(alone.policy().maxHttpRun?.(), undefined)
  } finally {
    waiting.close()
    alone.close()
  }
})

test('a linked owner that is sending bytes is alive even before a frame completes: its blocks stay its own', async () => {
  const { Bitfield } = await import('../../src/util/bitfield.js')
  const clock = { now: 0 }
  const session = await policySession(clock, { pieces: 64, selfId: 'a', httpDelayMs: 1000 })
  // a downloading peer half-way through sending us a large frame: bytes arrive, no frame completes
  let bytesIn = 0
  const link = {
    peerId: 'b',
    outbound: true,
    closed: false,
    listenAddrs: [],
    remote: new Bitfield(64),
    get bytesIn () { return bytesIn },
    has: () => false,
    send: async () => {},
    close: () => {}
  }
  try {
    assert.equal(session.addLink(link as unknown as Parameters<typeof session.addLink>[0]), true)
    const theirs = Array.from({ length: 64 }, (_, i) => i).find(i => session.coordinator.owner(i) === 'b')
    assert.ok(theirs !== undefined, 'the peer owns some block')
    const mayUseHttp = session.policy().mayUseHttp as (i: number) => boolean
    // settled at 1.5 s; the http-delay (1–2 s with jitter) passes many times over while bytes keep coming
    for (clock.now = 1500; clock.now <= 8000; clock.now += 300) {
      bytesIn += 16 * 1024
      assert.equal(mayUseHttp(theirs), false, `at ${clock.now} ms the streaming owner keeps its block`)
    }
    // the bytes stop: after 2 × the delay it counts as silent and its block passes on
    clock.now += 2100
    assert.equal(mayUseHttp(theirs), true, 'a silent owner passes its turn')
  } finally {
    session.close()
  }
})

test('a new piece is announced to peers that may want it, not to peers holding every piece', async () => {
  const { Bitfield } = await import('../../src/util/bitfield.js')
  const pieces = 8
  const session = await policySession({ now: 0 }, { pieces })
  const store = session.store
  const fakeLink = (peerId: string, remote: InstanceType<typeof Bitfield>): { sent: unknown[] } & Record<string, unknown> => {
    const sent: unknown[] = []
    return { sent, peerId, outbound: true, closed: false, listenAddrs: [], remote, bytesIn: 0, has: (i: number) => remote.get(i), send: async (m: unknown) => { sent.push(m) }, close: () => {} }
  }
  const full = new Bitfield(pieces)
  for (let i = 0; i < pieces; i++) full.set(i)
  const seeder = fakeLink('seeder', full)
  const leecher = fakeLink('leecher', new Bitfield(pieces))
  try {
    for (const l of [seeder, leecher]) assert.equal(session.addLink(l as unknown as Parameters<typeof session.addLink>[0]), true)
    seeder.sent.length = 0
    leecher.sent.length = 0
    store.have.set(3)
    store.have.set(5)
    store.onDurable?.([3, 5])
    assert.deepEqual(leecher.sent, [{ type: 'HAVE', index: 3 }, { type: 'HAVE', index: 5 }])
    assert.deepEqual(seeder.sent, [], 'a peer holding every piece wants no HAVE')
  } finally {
    session.close()
  }
})
