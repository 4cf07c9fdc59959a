import test from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Manifest } from '../../src/manifest/types.js'
import { listCache, PieceStore } from '../../src/store/index.js'
import { content, FaultyFs, makeManifest, piece, tempDir } from './fixture.js'

const P = 16 * 1024
const N = 10

async function completeStore (t: Parameters<typeof tempDir>[0], manifest?: (m: Manifest) => Manifest) {
  const root = await tempDir(t)
  const cacheDir = join(root, 'cache')
  const outDir = join(root, 'out')
  await mkdir(outDir)
  const data = content(N * P - 77)
  const m0 = makeManifest(data, P)
  const m = manifest === undefined ? m0 : manifest(m0)
  const fs = new FaultyFs()
  const store = await PieceStore.open({ cacheDir, manifest: m, fs, checkpointIntervalMs: 5 })
  t.after(async () => { await store.close().catch(() => {}) })
  await Promise.all(Array.from({ length: N }, async (_, i) => await store.put(i, piece(data, m, i))))
  assert.equal(store.complete, true)
  return { cacheDir, outDir, out: join(outDir, 'file.bin'), data, m, fs, store, dataPath: join(cacheDir, m.contentId, 'data') }
}

test('finalize delivers the verified file and keeps a seedable, finalized cache entry', async (t) => {
  const { cacheDir, outDir, out, data, m, store } = await completeStore(t)
  await store.finalize(out)
  assert.deepEqual(new Uint8Array(await readFile(out)), data)
  assert.deepEqual(await readdir(outDir), ['file.bin'])
  assert.deepEqual(new Uint8Array(await store.read(4)), piece(data, m, 4), 'still serves peers')
  await store.close()
  const [entry] = await listCache(cacheDir)
  assert.deepEqual(entry, { contentId: m.contentId, size: m.size, complete: true, pieces: N, have: N, finalized: true })
  const again = await PieceStore.open({ cacheDir, manifest: m })
  assert.equal(again.complete, true)
  await again.close()
})

test('finalize of an incomplete store fails and writes nothing', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(3 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m })
  await store.put(0, piece(data, m, 0))
  const out = join(cacheDir, 'out.bin')
  await assert.rejects(store.finalize(out), { code: 'STORE_INCOMPLETE' })
  assert.deepEqual((await readdir(cacheDir)).sort(), [m.contentId])
  await store.close()
})

async function assertNothingDelivered (outDir: string): Promise<void> {
  assert.deepEqual(await readdir(outDir), [], 'no output and no temp left behind')
}

test('tampered cache data: FILE_HASH_MISMATCH, no output, no temp, bad piece dropped', async (t) => {
  const { outDir, out, data, m, store, dataPath } = await completeStore(t)
  const h = await open(dataPath, 'r+')
  await h.write(Uint8Array.of(data[6 * P + 9] ^ 0x10), 0, 1, 6 * P + 9)
  await h.close()
  await assert.rejects(store.finalize(out), { code: 'FILE_HASH_MISMATCH' })
  await assertNothingDelivered(outDir)
  assert.equal(store.complete, false)
  assert.deepEqual(store.have.missing(), [6], 'the download can repair the one bad piece')
  assert.deepEqual(await store.put(6, piece(data, m, 6)), { ok: true, duplicate: false })
  await store.finalize(out)
  assert.deepEqual(new Uint8Array(await readFile(out)), data)
})

test('a manifest whose file hash disagrees with its pieces never delivers', async (t) => {
  const { outDir, out, store } = await completeStore(t, m => ({ ...m, fileHash: new Uint8Array(32) }))
  await assert.rejects(store.finalize(out), { code: 'FILE_HASH_MISMATCH' })
  await assertNothingDelivered(outDir)
  assert.equal(store.complete, true, 'no piece was wrong')
})

test('a failing finalize leaves an existing output untouched', async (t) => {
  const { out, fs, store } = await completeStore(t)
  await writeFile(out, 'previous version')
  fs.inject('rename', 'EIO', 'file.bin')
  await assert.rejects(store.finalize(out), { code: 'STORE_IO' })
  assert.equal(await readFile(out, 'utf8'), 'previous version')
  assert.deepEqual(await readdir(join(out, '..')), ['file.bin'])
  fs.clear()
  await store.finalize(out)
  assert.notEqual(await readFile(out, 'utf8'), 'previous version')
})

test('the output is a hard link to the verified cache file where possible: no second copy on disk', async (t) => {
  const { out, store, data } = await completeStore(t)
  await store.finalize(out)
  const st = await stat(out)
  assert.equal(st.nlink, 2, 'one inode for the cache entry and the output')
  assert.deepEqual(new Uint8Array(await readFile(out)), data)
})

test('an output edited after delivery is never served, and repairing the cache never writes through to it', async (t) => {
  const { out, store, data, m, cacheDir } = await completeStore(t)
  await store.finalize(out)
  await store.close()
  // the user edits the delivered file in place: the cache shares its bytes
  const h = await open(out, 'r+')
  await h.write(Uint8Array.of(data[5] ^ 0xff), 0, 1, 5)
  await h.close()
  const edited = new Uint8Array(await readFile(out))
  const again = await PieceStore.open({ cacheDir, manifest: m })
  t.after(async () => { await again.close() })
  assert.equal(again.have.get(0), false, 'the edited piece is no longer trusted')
  assert.equal((await stat(join(cacheDir, m.contentId, 'data'))).nlink, 1, 'the cache took a private copy before any write')
  assert.deepEqual(await again.put(0, piece(data, m, 0)), { ok: true, duplicate: false })
  assert.deepEqual(new Uint8Array(await readFile(out)), edited, 'the user\'s file is untouched by the repair')
})

test('disk full during the copy (output on another file system): DISK_FULL, no output, no temp (C3)', async (t) => {
  const { outDir, out, fs, store } = await completeStore(t)
  fs.inject('link', 'EXDEV')
  fs.inject('copyFile', 'ENOSPC')
  await assert.rejects(store.finalize(out), { code: 'DISK_FULL' })
  await assertNothingDelivered(outDir)
  fs.clear()
  await store.finalize(out)
  assert.deepEqual(await readdir(outDir), ['file.bin'])
})

test('fsync of the copy fails: no output, no temp', async (t) => {
  const { outDir, out, fs, store } = await completeStore(t)
  fs.inject('sync', 'EIO', '.part')
  await assert.rejects(store.finalize(out), { code: 'STORE_IO' })
  await assertNothingDelivered(outDir)
})

test('aborted finalize leaves nothing behind', async (t) => {
  const { outDir, out, store } = await completeStore(t)
  await assert.rejects(store.finalize(out, AbortSignal.abort()), { code: 'ABORTED' })
  await assertNothingDelivered(outDir)
})

test('output directory missing: clear error', async (t) => {
  const { outDir, store } = await completeStore(t)
  await assert.rejects(store.finalize(join(outDir, 'missing', 'file.bin')), { code: 'STORE_IO' })
  await assertNothingDelivered(outDir)
})
