import test from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { syncBuiltinESMExports } from 'node:module'
import workerThreads from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { HashPool, HashPoolError, sequentialHashPool, sharedHashPool } from '../../src/store/hash-pool.js'
import { PieceStore } from '../../src/store/index.js'
import { content, makeManifest, piece, tempDir } from './fixture.js'

/** A worker script that exits as soon as it is given a buffer. */
async function dyingWorker (dir: string): Promise<string> {
  const path = join(dir, 'dies.mjs')
  await writeFile(path, 'import { parentPort } from "node:worker_threads"\nparentPort.on("message", () => process.exit(3))\n')
  return path
}

const digestOf = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

test('hash pool: owned buffers move to a worker and back with their digest', async (t) => {
  const pool = new HashPool({ workers: 2, inlineBelow: 1024 })
  t.after(async () => { await pool.close() })
  const data = randomBytes(300_000)
  const owned = new Uint8Array(data)
  const b = await pool.sha256(owned)
  assert.equal(owned.byteLength, 0, 'the caller\'s view was detached while the worker had it')
  assert.deepEqual(b.bytes, new Uint8Array(data))
  assert.deepEqual(b.digest, digestOf(data))

  // many at once, spread over both workers, each answer matched to its buffer
  const many = Array.from({ length: 24 }, (_, i) => new Uint8Array(randomBytes(2048 + i)))
  const expected = many.map(digestOf)
  const got = await Promise.all(many.map(async m => await pool.sha256(m)))
  got.forEach((h, i) => { assert.deepEqual(h.digest, expected[i]); assert.deepEqual(digestOf(h.bytes), expected[i]) })

  // a view into a larger buffer cannot move: hashed inline, untouched
  const big = randomBytes(8192)
  const view = big.subarray(100, 5000)
  const c = await pool.sha256(view)
  assert.deepEqual(c.digest, digestOf(view))
  assert.equal(big.byteLength, 8192)
  // small ones stay inline too
  const small = new Uint8Array(100)
  assert.equal((await pool.sha256(small)).bytes, small)
  assert.equal(pool.degraded, false)
})

test('hash pool: a worker that cannot start or dies falls back to the calling thread', async (t) => {
  const dir = await tempDir(t)
  const failing = join(dir, 'fails.mjs')
  await writeFile(failing, 'throw new Error("no worker here")\n')
  const broken = new HashPool({ workers: 1, inlineBelow: 16, workerUrl: pathToFileURL(failing) })
  t.after(async () => { await broken.close() })
  const data = randomBytes(4096)
  await assert.rejects(broken.sha256(new Uint8Array(data)), HashPoolError)
  assert.equal(broken.degraded, true)
  assert.deepEqual((await broken.sha256(new Uint8Array(data))).digest, digestOf(data), 'later hashes are inline')

  const dying = await dyingWorker(dir)
  const pool = new HashPool({ workers: 1, inlineBelow: 16, workerUrl: pathToFileURL(dying) })
  t.after(async () => { await pool.close() })
  await assert.rejects(pool.sha256(new Uint8Array(data)), HashPoolError, 'a moved buffer is lost with its worker: the caller is told')
  assert.equal(pool.degraded, true)
})

test('store: a hash worker dying with a piece is a STORE_IO error, then pieces are hashed inline', async (t) => {
  const dir = await tempDir(t)
  const dying = await dyingWorker(dir)
  const hashPool = new HashPool({ workers: 1, inlineBelow: 16, workerUrl: pathToFileURL(dying) })
  t.after(async () => { await hashPool.close() })
  const P = 16 * 1024
  const data = content(4 * P)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir: dir, manifest: m, hashPool })
  t.after(async () => { await store.close() })
  await assert.rejects(store.put(0, piece(data, m, 0)), { code: 'STORE_IO' })
  assert.equal(store.have.get(0), false)
  assert.deepEqual(await store.put(0, piece(data, m, 0)), { ok: true, duplicate: false })
  const bad = Uint8Array.from(piece(data, m, 1)); bad[7] ^= 1
  assert.deepEqual(await store.put(1, bad), { ok: false, reason: 'hash' })
  assert.deepEqual(new Uint8Array(await store.read(0)), piece(data, m, 0))
  assert.equal(hashPool.degraded, true)
})

test('hash pool: an idle pool does not keep the process alive, even after a file hash ended on its own', async (t) => {
  // in a child process: a file hash that ends (digest reported) without anyone awaiting it, then nothing
  const dir = await tempDir(t)
  const file = join(dir, 'data')
  await writeFile(file, randomBytes(3 * 1024))
  const pool = pathToFileURL(join(import.meta.dirname, '../../src/store/hash-pool.js')).href
  const script = `
    const { HashPool } = await import(${JSON.stringify(pool)})
    const p = new HashPool({ workers: 1 })
    const alive = setInterval(() => {}, 1000) // the job is not held: something else keeps us up meanwhile
    await new Promise(resolve => {
      const job = p.startFileHash({ dataPath: ${JSON.stringify(file)}, size: 3072, pieceSize: 1024, chunkSize: 1024 }, resolve)
      job.written([0, 1, 2])
    })
    clearInterval(alive)
    console.log('hashed')`
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 15_000)
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  clearTimeout(timer)
  assert.equal(code, 0, 'the child exited by itself (killed after 15 s otherwise)')
  assert.equal(out.trim(), 'hashed')
})

test('hash pool: with two workers, piece hashes keep off the worker that runs a file hash', async (t) => {
  const Original = workerThreads.Worker
  const started: Array<{ pieces: number, files: number }> = []
  class Counting extends Original {
    readonly seen = { pieces: 0, files: 0 }
    constructor (url: string | URL, opts?: workerThreads.WorkerOptions) {
      super(url, opts)
      started.push(this.seen)
    }

    override postMessage (msg: { type?: string }, transfer?: readonly workerThreads.Transferable[]): void {
      if (msg.type === 'piece') this.seen.pieces++
      if (msg.type === 'file-start') this.seen.files++
      super.postMessage(msg, transfer)
    }
  }
  workerThreads.Worker = Counting
  syncBuiltinESMExports()
  t.after(() => { workerThreads.Worker = Original; syncBuiltinESMExports() })

  const dir = await tempDir(t)
  const file = join(dir, 'data')
  await writeFile(file, randomBytes(4 * 4096))
  const pool = new HashPool({ workers: 2, inlineBelow: 1024 })
  t.after(async () => { await pool.close() })
  const job = pool.startFileHash({ dataPath: file, size: 4 * 4096, pieceSize: 4096, chunkSize: 4096 }, () => {})
  assert.ok(job !== undefined)
  t.after(() => { job.stop() })
  job.written([0, 1]) // still running: pieces 2 and 3 are not written
  const pieces = Array.from({ length: 20 }, () => new Uint8Array(randomBytes(4096)))
  const expected = pieces.map(digestOf)
  const results = await Promise.all(pieces.map(async p => await pool.sha256(p)))
  assert.deepEqual(results.map(r => r.digest), expected)
  assert.equal(started.length, 2)
  const fileWorker = started.find(s => s.files === 1)
  const other = started.find(s => s.files === 0)
  assert.ok(fileWorker !== undefined && other !== undefined)
  assert.equal(fileWorker.pieces, 0, 'no piece went to the worker running the file hash')
  assert.equal(other.pieces, 20)
})

test('hash pool: the pool for in-order downloads has a worker for the file hash beside the one for pieces', () => {
  const pool = sequentialHashPool()
  assert.equal(pool, sequentialHashPool(), 'one per process')
  assert.notEqual(pool, sharedHashPool())
  assert.equal(pool.size, availableParallelism() > 1 ? 2 : 1)
})
