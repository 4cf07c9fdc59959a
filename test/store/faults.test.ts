import test from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PieceStore } from '../../src/store/index.js'
import { decodeState } from '../../src/store/state-codec.js'
import { content, FaultyFs, makeManifest, piece, sleep, tempDir } from './fixture.js'

const P = 16 * 1024

async function setup (t: Parameters<typeof tempDir>[0], opts: { interval?: number, pieces?: number } = {}) {
  const cacheDir = await tempDir(t)
  const data = content(8 * P)
  const m = makeManifest(data, P)
  const fs = new FaultyFs()
  const store = await PieceStore.open({ cacheDir, manifest: m, fs, checkpointIntervalMs: opts.interval ?? 5, checkpointPieces: opts.pieces })
  t.after(async () => { await store.close().catch(() => {}) })
  fs.resetLog()
  const durable: number[] = []
  store.onDurable = (ix) => { durable.push(...ix) }
  const dir = join(cacheDir, m.contentId)
  return { cacheDir, data, m, fs, store, durable, dir }
}

async function recordedPieces (dir: string): Promise<number> {
  const s = decodeState(new Uint8Array(await readFile(join(dir, 'state'))))
  assert.ok(!('error' in s), 'state file stays valid')
  return s.done.count
}

test('ENOSPC on the piece write: DISK_FULL, nothing marked, retry succeeds when space returns', async (t) => {
  const { data, m, fs, store, durable, dir } = await setup(t)
  await store.put(0, piece(data, m, 0))
  fs.inject('write', 'ENOSPC', '/data')
  await assert.rejects(store.put(1, piece(data, m, 1)), { code: 'DISK_FULL', name: 'DiskFullError' })
  assert.equal(store.have.get(1), false)
  assert.deepEqual(durable, [0])
  assert.equal(await recordedPieces(dir), 1)
  fs.clear()
  assert.deepEqual(await store.put(1, piece(data, m, 1)), { ok: true, duplicate: false })
  assert.deepEqual(durable, [0, 1])
})

test('ENOSPC on the data fsync fails every piece written so far; no spin; retry works', async (t) => {
  const { data, m, fs, store, durable } = await setup(t, { interval: 60_000, pieces: 1000 })
  fs.inject('datasync', 'ENOSPC', '/data')
  const puts = Promise.allSettled([2, 3, 4].map(async i => await store.put(i, piece(data, m, i))))
  await assert.rejects(store.flush(), { code: 'DISK_FULL' })
  for (const r of await puts) assert.equal(r.status === 'rejected' && r.reason.code, 'DISK_FULL')
  assert.equal(store.have.count, 0)
  assert.deepEqual(durable, [])
  const syncs = fs.count('datasync')
  await sleep(100)
  assert.equal(fs.count('datasync'), syncs, 'no retry loop while idle')
  fs.clear()
  const again = Promise.all([2, 3, 4].map(async i => await store.put(i, piece(data, m, i))))
  await store.flush()
  // nothing was marked done, so the retries are not duplicates
  assert.ok((await again).every(r => r.ok && !r.duplicate))
  assert.deepEqual(durable.sort(), [2, 3, 4])
})

test('ENOSPC writing the state file: DISK_FULL, have unchanged, old state intact, no temp left', async (t) => {
  const { data, m, fs, store, durable, dir } = await setup(t)
  await store.put(0, piece(data, m, 0))
  fs.inject('write', 'ENOSPC', '.tmp')
  await assert.rejects(store.put(5, piece(data, m, 5)), { code: 'DISK_FULL' })
  assert.equal(store.have.get(5), false)
  assert.deepEqual(durable, [0])
  assert.equal(await recordedPieces(dir), 1)
  assert.deepEqual((await readdir(dir)).sort(), ['data', 'manifest', 'state'])
  fs.clear()
  assert.deepEqual(await store.put(5, piece(data, m, 5)), { ok: true, duplicate: false })
  assert.equal(await recordedPieces(dir), 2)
})

test('failed rename of the state file: STORE_IO, retry works', async (t) => {
  const { data, m, fs, store, dir } = await setup(t)
  fs.inject('rename', 'EIO', '/state')
  await assert.rejects(store.put(7, piece(data, m, 7)), { code: 'STORE_IO', name: 'StoreIoError' })
  assert.equal(store.have.count, 0)
  assert.equal(await recordedPieces(dir), 0)
  assert.deepEqual((await readdir(dir)).sort(), ['data', 'manifest', 'state'])
  fs.clear()
  assert.deepEqual(await store.put(7, piece(data, m, 7)), { ok: true, duplicate: false })
})

test('a failure rejects only the pieces it affects; other commits proceed', async (t) => {
  const { data, m, fs, store } = await setup(t, { interval: 5 })
  let failNext = true
  fs.faults.write = (path) => {
    if (path.endsWith('/data') && failNext) { failNext = false; return 'ENOSPC' }
    return undefined
  }
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(async i => await store.put(i, piece(data, m, i))))
  const rejected = results.filter(r => r.status === 'rejected')
  assert.equal(rejected.length, 1)
  assert.equal(store.have.count, 5)
})

test('ENOSPC while opening: DISK_FULL from open', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(4 * P)
  const m = makeManifest(data, P)
  const fs = new FaultyFs()
  fs.inject('truncate', 'ENOSPC')
  await assert.rejects(PieceStore.open({ cacheDir, manifest: m, fs }), { code: 'DISK_FULL' })
  fs.clear()
  const store = await PieceStore.open({ cacheDir, manifest: m, fs })
  assert.deepEqual(await store.put(0, piece(data, m, 0)), { ok: true, duplicate: false })
  await store.close()
})
