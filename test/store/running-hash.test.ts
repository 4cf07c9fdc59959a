import test from 'node:test'
import assert from 'node:assert/strict'
import { open, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { syncBuiltinESMExports } from 'node:module'
import workerThreads from 'node:worker_threads'
import { HashPool } from '../../src/store/hash-pool.js'
import { PieceStore } from '../../src/store/index.js'
import { RunningFileHash } from '../../src/store/running-file-hash.js'
import { content, makeManifest, piece, sha256, tempDir } from './fixture.js'

const P = 16 * 1024

test('running file hash: pieces written in any order give the whole-file digest; invalidate and failures give none', async (t) => {
  const dir = await tempDir(t)
  const data = content(10 * P + 123)
  const path = join(dir, 'data')
  await writeFile(path, data)
  const init = { dataPath: path, size: data.length, pieceSize: P, chunkSize: 5000 }
  const pool = new HashPool({ workers: 1 })
  t.after(async () => { await pool.close() })
  const h = new RunningFileHash(pool, init, [3, 7])
  for (const batch of [[10, 1], [0, 2], [9, 8, 6], [5, 4]]) h.written(batch)
  assert.deepEqual(await h.digest(), new Uint8Array(sha256(data)))

  const partial = new RunningFileHash(pool, init, [1, 2, 3])
  const early = partial.digest(AbortSignal.timeout(200))
  assert.equal(await early, undefined, 'an abort while pieces are missing yields no digest')
  partial.invalidate()
  partial.written([0, 4, 5, 6, 7, 8, 9, 10])
  assert.equal(await partial.digest(), undefined, 'invalidated stays invalid')

  const missing = new RunningFileHash(pool, { ...init, dataPath: join(dir, 'nope') }, [])
  assert.equal(await missing.digest(), undefined, 'a worker that cannot read the file reports nothing')

  await writeFile(path, data.subarray(0, 4 * P))
  const short = new RunningFileHash(pool, init, [0, 1, 2, 3, 4])
  assert.equal(await short.digest(), undefined, 'a data file shorter than the pieces claim reports nothing')

  // the failures above did not take the worker down: it still hashes, pieces and files alike
  await writeFile(path, data)
  const again = new RunningFileHash(pool, init, [])
  const piece0 = new Uint8Array(data.subarray(0, P))
  assert.deepEqual((await pool.sha256(piece0)).digest, new Uint8Array(sha256(data.subarray(0, P))))
  again.written(Array.from({ length: 11 }, (_, i) => i))
  assert.deepEqual(await again.digest(), new Uint8Array(sha256(data)))
  assert.equal(pool.degraded, false)

  // a pool that loses its worker ends the running hash with no digest
  const doomed = new HashPool({ workers: 1 })
  const cut = new RunningFileHash(doomed, init, [0])
  await doomed.close()
  assert.equal(await cut.digest(), undefined, 'a closed pool ends its file hashes')
})

test('store with a running hash starts one worker thread: pieces and the whole-file hash share it', async (t) => {
  const Original = workerThreads.Worker
  const started: string[] = []
  class Counting extends Original {
    constructor (url: string | URL, opts?: workerThreads.WorkerOptions) {
      super(url, opts)
      started.push(String(url))
    }
  }
  workerThreads.Worker = Counting
  syncBuiltinESMExports()
  t.after(() => { workerThreads.Worker = Original; syncBuiltinESMExports() })

  const cacheDir = await tempDir(t)
  const P2 = 512 * 1024 // above the inline-hash size: pieces go to the worker
  const data = content(9 * P2 + 77)
  const m = makeManifest(data, P2)
  const hashPool = new HashPool({ workers: 1 })
  t.after(async () => { await hashPool.close() })
  const store = await PieceStore.open({ cacheDir, manifest: m, runningHashMinSize: 0, hashPool })
  t.after(async () => { await store.close() })
  for (let i = 0; i < 10; i++) assert.deepEqual(await store.put(i, piece(data, m, i)), { ok: true, duplicate: false })
  const out = join(cacheDir, 'out.bin')
  await store.finalize(out)
  assert.deepEqual(new Uint8Array(await readFile(out)), data)
  assert.equal(started.length, 1, `worker threads started: ${started.join(', ')}`)
  assert.match(started[0] ?? '', /hash-worker\.js$/)
})

test('store with a running hash: finalize delivers the verified file; a data file changed under it is caught', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(12 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m, runningHashMinSize: 0 })
  t.after(async () => { await store.close() })
  for (const i of [5, 1, 11, 0, 2, 3, 4, 6, 7, 8, 9, 10]) assert.deepEqual(await store.put(i, piece(data, m, i)), { ok: true, duplicate: false })
  const out = join(cacheDir, 'out.bin')
  await store.finalize(out)
  assert.deepEqual(new Uint8Array(await readFile(out)), data)

  // tamper with piece 3 on disk after it verified, before the running hash reads it
  const dir2 = await tempDir(t)
  const store2 = await PieceStore.open({ cacheDir: dir2, manifest: m, runningHashMinSize: 0 })
  t.after(async () => { await store2.close() })
  for (let i = 1; i < 12; i++) await store2.put(i, piece(data, m, i))
  const fh = await open(join(dir2, m.contentId, 'data'), 'r+')
  await fh.write(new Uint8Array([0xde, 0xad]), 0, 2, 3 * P + 100)
  await fh.close()
  await store2.put(0, piece(data, m, 0))
  const out2 = join(dir2, 'out.bin')
  await assert.rejects(store2.finalize(out2), { code: 'FILE_HASH_MISMATCH' })
  assert.deepEqual((await readdir(dir2)).filter(n => n.includes('out.bin')), [], 'nothing at or beside the output path')
  assert.equal(store2.have.get(3), false, 'the changed piece is dropped so it can be fetched again')
  assert.equal(store2.have.count, 11)
  // repaired: the running hash is spent, so finalize hashes the file in one pass
  assert.deepEqual(await store2.put(3, piece(data, m, 3)), { ok: true, duplicate: false })
  const onDisk = await readFile(join(dir2, m.contentId, 'data'))
  assert.deepEqual(sha256(onDisk), sha256(data), 'data file repaired')
  await store2.finalize(out2)
  assert.deepEqual(new Uint8Array(await readFile(out2)), data)
})

test('store: the running hash reads each piece once it is written, not after its group commit', async (t) => {
  const cacheDir = await tempDir(t)
  const data = content(10 * P + 5)
  const m = makeManifest(data, P)
  /** pieces reported to the running hash, with how many pieces were durable at that moment */
  const told: Array<{ indices: number[], durable: number }> = []
  let store: PieceStore | undefined
  class Spy extends HashPool {
    override startFileHash (...args: Parameters<HashPool['startFileHash']>): ReturnType<HashPool['startFileHash']> {
      const job = super.startFileHash(...args)
      if (job === undefined) return job
      return { ...job, written: (indices) => { told.push({ indices, durable: store?.have.count ?? -1 }); job.written(indices) } }
    }
  }
  const hashPool = new Spy({ workers: 1 })
  t.after(async () => { await hashPool.close() })
  // commits wait a minute (or 100 pieces): every piece is written long before it is durable
  store = await PieceStore.open({ cacheDir, manifest: m, runningHashMinSize: 0, hashPool, checkpointIntervalMs: 60_000, checkpointPieces: 100 })
  t.after(async () => { await store?.close() })
  const s = store
  let written = 0
  const puts = Array.from({ length: 11 }, async (_, i) => await s.put(i, piece(data, m, i), undefined, { onWritten: () => { written++ } }))
  while (written < 11) await new Promise(resolve => setTimeout(resolve, 5))
  assert.equal(s.have.count, 0, 'nothing committed yet')
  assert.deepEqual(told.flatMap(x => x.indices).sort((a, b) => a - b), Array.from({ length: 11 }, (_, i) => i))
  assert.ok(told.every(x => x.durable === 0), 'told before any commit')
  await s.flush()
  for (const r of await Promise.all(puts)) assert.deepEqual(r, { ok: true, duplicate: false })
  const out = join(cacheDir, 'out.bin')
  await s.finalize(out)
  assert.deepEqual(new Uint8Array(await readFile(out)), data)
})
