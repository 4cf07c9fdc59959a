import test from 'node:test'
import assert from 'node:assert/strict'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_CHECKPOINT_PIECES, PieceStore } from '../../src/store/index.js'
import { content, FaultyFs, makeManifest, piece, sleep, tempDir, track } from './fixture.js'

const P = 16 * 1024

async function setup (t: Parameters<typeof tempDir>[0], opts: { size?: number, interval?: number, pieces?: number } = {}) {
  const cacheDir = await tempDir(t)
  const data = content(opts.size ?? 8 * P - 100) // short last piece
  const m = makeManifest(data, P)
  const fs = new FaultyFs()
  const store = await PieceStore.open({ cacheDir, manifest: m, fs, checkpointIntervalMs: opts.interval, checkpointPieces: opts.pieces })
  t.after(async () => { await store.close().catch(() => {}) })
  fs.resetLog()
  const durable: number[][] = []
  store.onDurable = (ix) => {
    assert.ok(ix.every(i => store.have.get(i)), 'have is updated before onDurable')
    durable.push([...ix])
  }
  return { cacheDir, data, m, fs, store, durable, dataPath: join(cacheDir, m.contentId, 'data') }
}

test('documented defaults are the real ones', () => {
  assert.equal(DEFAULT_CHECKPOINT_INTERVAL_MS, 10)
  assert.equal(DEFAULT_CHECKPOINT_PIECES, 32)
})

test('open lays out manifest, data (sized) and state', async (t) => {
  const { cacheDir, m, dataPath } = await setup(t)
  assert.deepEqual(new Uint8Array(await readFile(join(cacheDir, m.contentId, 'manifest'))), m.bytes)
  assert.equal((await stat(dataPath)).size, m.size)
  assert.ok((await stat(join(cacheDir, m.contentId, 'state'))).size > 0)
})

test('a good piece is accepted, durable, announced and readable', async (t) => {
  const { data, m, store, durable } = await setup(t)
  assert.deepEqual(await store.put(3, piece(data, m, 3)), { ok: true, duplicate: false })
  assert.equal(store.have.get(3), true)
  assert.deepEqual(durable, [[3]])
  assert.deepEqual(new Uint8Array(await store.read(3)), piece(data, m, 3))
  // the short last piece too
  assert.deepEqual(await store.put(7, piece(data, m, 7)), { ok: true, duplicate: false })
  assert.deepEqual(new Uint8Array(await store.read(7)), piece(data, m, 7))
})

test('wrong length, wrong hash and out-of-range indices are rejected with nothing written', async (t) => {
  const { data, m, fs, store, durable, dataPath } = await setup(t)
  const good = piece(data, m, 2)
  const flipped = Uint8Array.from(good)
  flipped[100] ^= 1
  const cases: Array<[number, Uint8Array, string]> = [
    [2, good.subarray(1), 'length'],
    [2, new Uint8Array(good.length + 1), 'length'],
    [7, new Uint8Array(P), 'length'], // full-size bytes for the short last piece
    [2, flipped, 'hash'],
    [3, good, 'hash'], // right bytes, wrong slot
    [-1, good, 'length'],
    [8, good, 'length'],
    [1.5, good, 'length'],
    [Number.NaN, good, 'length']
  ]
  for (const [i, bytes, reason] of cases) {
    assert.deepEqual(await store.put(i, bytes), { ok: false, reason }, `index ${i}`)
  }
  assert.equal(fs.count('write', '/data'), 0)
  assert.equal(fs.count('datasync', '/data'), 0)
  assert.equal(store.have.count, 0)
  assert.deepEqual(durable, [])
  assert.ok((await readFile(dataPath)).every(b => b === 0))
})

test('duplicates: already held, concurrently pending, and bad bytes for a held piece', async (t) => {
  const { data, m, fs, store, durable } = await setup(t)
  const p1 = piece(data, m, 1)
  const [a, b] = await Promise.all([store.put(1, p1), store.put(1, p1)])
  assert.deepEqual([a, b], [{ ok: true, duplicate: false }, { ok: true, duplicate: true }])
  assert.equal(fs.count('write', '/data'), 1)
  assert.deepEqual(await store.put(1, p1), { ok: true, duplicate: true })
  assert.equal(fs.count('write', '/data'), 1)
  // garbage for a piece we hold is still reported as garbage
  assert.deepEqual(await store.put(1, new Uint8Array(P)), { ok: false, reason: 'hash' })
  assert.deepEqual(durable, [[1]])
})

test('have changes only after the group commit, and put resolves only then', async (t) => {
  const { data, m, fs, store, durable } = await setup(t, { interval: 60_000, pieces: 1000 })
  const puts = [0, 4, 5].map(i => track(store.put(i, piece(data, m, i))))
  await sleep(50) // writes done, commit not due
  assert.equal(fs.count('write', '/data') >= 3, true)
  assert.equal(store.have.count, 0)
  assert.equal(puts.some(p => p.settled()), false)
  assert.deepEqual(durable, [])
  await assert.rejects(store.read(0), { code: 'PIECE_NOT_HELD' }, 'never served before it is durable (T6)')
  await store.flush()
  assert.equal(puts.every(p => p.settled()), true)
  for (const p of puts) assert.deepEqual(await p.promise, { ok: true, duplicate: false })
  assert.deepEqual(durable.flat().sort(), [0, 4, 5])
  assert.equal(durable.length, 1, 'one commit')
  assert.equal(fs.count('datasync', '/data'), 1)
})

test('a commit starts when checkpointPieces are waiting', async (t) => {
  const { data, m, fs, store } = await setup(t, { interval: 60_000, pieces: 4 })
  const results = await Promise.all([0, 1, 2, 3].map(async i => await store.put(i, piece(data, m, i))))
  assert.ok(results.every(r => r.ok))
  assert.equal(fs.count('datasync', '/data'), 1)
})

test('a commit starts when checkpointIntervalMs has passed', async (t) => {
  const { data, m, store } = await setup(t, { interval: 30, pieces: 1000 })
  const started = Date.now()
  assert.deepEqual(await store.put(0, piece(data, m, 0)), { ok: true, duplicate: false })
  assert.ok(Date.now() - started < 2000)
})

test('many concurrent puts share few fsyncs', async (t) => {
  const { cacheDir, fs, durable, store: first } = await setup(t, { size: 64 * P })
  await first.close()
  const data = content(64 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m, fs })
  const before = fs.count('datasync', '/data')
  store.onDurable = (ix) => { durable.push(ix) }
  const results = await Promise.all(Array.from({ length: 64 }, async (_, i) => await store.put(i, piece(data, m, i))))
  assert.ok(results.every(r => r.ok && !r.duplicate))
  assert.equal(store.complete, true)
  assert.ok(fs.count('datasync', '/data') - before <= 4, `${fs.count('datasync', '/data') - before} fsyncs for 64 pieces`)
  assert.deepEqual(durable.flat().sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i))
  await store.close()
})

test('the caller may reuse its buffer as soon as put returns a promise', async (t) => {
  const { data, m, store } = await setup(t, { interval: 60_000, pieces: 1000 })
  const buf = Uint8Array.from(piece(data, m, 2))
  const put = store.put(2, buf)
  buf.fill(0xee) // e.g. a network buffer refilled while the write is queued
  await store.flush()
  assert.deepEqual(await put, { ok: true, duplicate: false })
  assert.deepEqual(new Uint8Array(await store.read(2)), piece(data, m, 2))
})

test('abort: before put nothing is written; during the wait the piece still commits', async (t) => {
  const { data, m, fs, store } = await setup(t, { interval: 60_000, pieces: 1000 })
  await assert.rejects(store.put(0, piece(data, m, 0), AbortSignal.abort()), { code: 'ABORTED' })
  assert.equal(fs.count('write', '/data'), 0)
  const ac = new AbortController()
  const put = store.put(1, piece(data, m, 1), ac.signal)
  ac.abort()
  await assert.rejects(put, { code: 'ABORTED' })
  await store.flush()
  assert.equal(store.have.get(1), true)
})

test('read: only held pieces, re-verified against the disk', async (t) => {
  const { data, m, store, dataPath } = await setup(t)
  await assert.rejects(store.read(0), { code: 'PIECE_NOT_HELD', piece: 0 })
  await assert.rejects(store.read(99), { code: 'PIECE_NOT_HELD' })
  await store.put(0, piece(data, m, 0))
  // someone changes the cache file behind our back
  const { open } = await import('node:fs/promises')
  const h = await open(dataPath, 'r+')
  await h.write(Uint8Array.of(data[10] ^ 0xff), 0, 1, 10)
  await h.close()
  await assert.rejects(store.read(0), { code: 'STORE_IO' })
  assert.equal(store.have.get(0), false, 'dropped so it is fetched again')
  assert.deepEqual(await store.put(0, piece(data, m, 0)), { ok: true, duplicate: false })
  assert.deepEqual(new Uint8Array(await store.read(0)), piece(data, m, 0))
})

test('close flushes pending pieces, is idempotent, and later calls fail cleanly', async (t) => {
  const { data, m, store, durable } = await setup(t, { interval: 60_000, pieces: 1000 })
  const put = store.put(6, piece(data, m, 6))
  await Promise.all([store.close(), store.close()])
  assert.deepEqual(await put, { ok: true, duplicate: false })
  assert.deepEqual(durable, [[6]])
  await store.close()
  await assert.rejects(store.put(5, piece(data, m, 5)), { code: 'STORE_IO' })
  await assert.rejects(store.read(6), { code: 'STORE_IO' })
})

test('open validates the content id (T9), the manifest geometry and the options', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(4 * P)
  const m = makeManifest(data, P)
  for (const contentId of ['', '../escape', 'a/b', 'ABC', 'x\0y', '..', 'b'.repeat(200)]) {
    await assert.rejects(PieceStore.open({ cacheDir, manifest: { ...m, contentId } }), { code: 'MANIFEST_MALFORMED' }, contentId)
  }
  await assert.rejects(PieceStore.open({ cacheDir, manifest: { ...m, pieceHashes: m.pieceHashes.slice(1) } }), { code: 'MANIFEST_MALFORMED' })
  await assert.rejects(PieceStore.open({ cacheDir, manifest: { ...m, pieceSize: 0 } }), { code: 'MANIFEST_MALFORMED' })
  await assert.rejects(PieceStore.open({ cacheDir, manifest: m, checkpointPieces: 0 }), { code: 'USAGE' })
  await assert.rejects(PieceStore.open({ cacheDir, manifest: m, checkpointIntervalMs: -1 }), { code: 'USAGE' })
  const { readdir } = await import('node:fs/promises')
  assert.deepEqual(await readdir(cacheDir), [], 'nothing created for rejected input')
})

test('an empty file is complete at once', async (t) => {
  const cacheDir = await tempDir(t)
  const m = makeManifest(new Uint8Array(0), P)
  const store = await PieceStore.open({ cacheDir, manifest: m })
  assert.equal(store.complete, true)
  const out = join(cacheDir, 'empty.out')
  await store.finalize(out)
  assert.equal((await stat(out)).size, 0)
  await store.close()
})

test('open can be aborted while it re-verifies', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(4 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m, checkpointIntervalMs: 1 })
  await store.put(0, piece(data, m, 0))
  await store.close()
  await assert.rejects(PieceStore.open({ cacheDir, manifest: m, signal: AbortSignal.abort() }), { code: 'ABORTED' })
  const again = await PieceStore.open({ cacheDir, manifest: m })
  assert.equal(again.have.get(0), true)
  await again.close()
})

test('onWritten: called once when the bytes are written, before the commit; and for a refused piece', async (t) => {
  const { data, m, store } = await setup(t, { interval: 60_000, pieces: 1000 })
  let calls = 0
  let resolved = false
  const wrote = new Promise<void>(resolve => {
    const put = store.put(3, piece(data, m, 3), undefined, { onWritten: () => { calls++; resolve() } })
    void put.then(() => { resolved = true })
  })
  await wrote
  assert.equal(resolved, false, 'written, but not durable until the commit')
  assert.equal(store.have.get(3), false)
  await store.flush()
  assert.equal(store.have.get(3), true)
  assert.equal(calls, 1)
  let badCalls = 0
  const bad = Uint8Array.from(piece(data, m, 4)); bad[0] ^= 1
  assert.deepEqual(await store.put(4, bad, undefined, { onWritten: () => { badCalls++ } }), { ok: false, reason: 'hash' })
  assert.equal(badCalls, 1)
})

test('adopt: a whole buffer is taken without a copy, a view is copied, and both verify', async (t) => {
  const { data, m, store } = await setup(t)
  const whole = Uint8Array.from(piece(data, m, 5))
  assert.deepEqual(await store.put(5, whole, undefined, { adopt: true }), { ok: true, duplicate: false })
  const backing = new Uint8Array(m.pieceSize + 10)
  backing.set(piece(data, m, 6), 10)
  const view = backing.subarray(10)
  assert.deepEqual(await store.put(6, view, undefined, { adopt: true }), { ok: true, duplicate: false })
  assert.equal(backing.byteLength, m.pieceSize + 10, 'a view into a larger buffer is never taken')
  assert.deepEqual(new Uint8Array(await store.read(5)), piece(data, m, 5))
  assert.deepEqual(new Uint8Array(await store.read(6)), piece(data, m, 6))
})
