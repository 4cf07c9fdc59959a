import test from 'node:test'
import assert from 'node:assert/strict'
import { BufferPool, sharedBufferPool } from '../../src/util/buffer-pool.js'
import { PieceStore } from '../../src/store/index.js'
import { content, makeManifest, piece, tempDir } from './fixture.js'

test('buffer pool: reuses whole buffers of the same size, ignores views, doubles and overflow', () => {
  const pool = new BufferPool(3 * 1024)
  const a = pool.take(1024)
  assert.equal(a.byteLength, 1024)
  assert.equal(a.buffer.byteLength, 1024, 'owns its ArrayBuffer')
  pool.give(a)
  pool.give(a)
  assert.equal(pool.bytes, 1024, 'a buffer given twice is kept once')
  const b = pool.take(1024)
  assert.equal(b.buffer, a.buffer, 'reused')
  assert.equal(pool.bytes, 0)
  assert.notEqual(pool.take(1024).buffer, a.buffer, 'a taken buffer is not handed out again')

  const big = new Uint8Array(4096)
  pool.give(big.subarray(0, 1024))
  assert.equal(pool.bytes, 0, 'a view is never kept')
  pool.give(new Uint8Array(2048)); pool.give(new Uint8Array(1024)); pool.give(new Uint8Array(1024))
  assert.equal(pool.bytes, 3072, 'bounded by maxBytes')
  assert.equal(pool.take(512).byteLength, 512, 'other sizes are allocated')
})

test('store: piece buffers go back to the pool after their write and are reused without mixing pieces', async (t) => {
  const cacheDir = await tempDir(t)
  const P = 512 * 1024 // above the inline-hash size, so buffers travel to the hash worker and back
  const data = content(8 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m })
  t.after(async () => { await store.close() })
  const pool = sharedBufferPool()
  const before = pool.bytes
  // adopted buffers taken from the pool, as the HTTP reader does; some bad, some duplicates
  const results = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 3, 5].map(async (i, k) => {
    const buf = pool.take(P)
    buf.set(piece(data, m, i))
    if (k === 9) buf[0] ^= 1
    return await store.put(i, buf, undefined, { adopt: true })
  }))
  assert.deepEqual(results.filter(r => r.ok).length, 9)
  assert.deepEqual(results[9], { ok: false, reason: 'hash' })
  assert.ok(pool.bytes > before, 'buffers came back to the pool')
  for (let i = 0; i < 8; i++) assert.deepEqual(new Uint8Array(await store.read(i)), piece(data, m, i))
})
