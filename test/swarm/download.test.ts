/**
 * The download scheduler on its own, with an in-memory store and scripted
 * sources: decisions that depend on when things are read, which a real swarm
 * only hits by chance.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { PieceUnavailableError } from '../../src/errors.js'
import { Downloader, type StoreLike } from '../../src/swarm/download.js'
import type { PieceData, PieceSource } from '../../src/source/index.js'
import { memoryStore as sharedMemoryStore, runDownload } from '../helpers/scheduler-fixtures.js'

const PIECE = 16 * 1024

async function run (d: Downloader): Promise<ReturnType<Downloader['stats']>> { return await runDownload(d) }

function memoryStore (pieces: number): StoreLike { return sharedMemoryStore(pieces, PIECE) }

/** A peer that holds everything and whose BUSY back-off is read through `busyUntil`. */
function scriptedPeer (busyUntil: () => number | undefined): PieceSource & { asked: number } {
  const peer = {
    id: 'peer:scripted',
    kind: 'peer' as const,
    asked: 0,
    get busyUntil () { return busyUntil() },
    has: () => true,
    async * fetch (first: number, count: number): AsyncGenerator<PieceData> {
      peer.asked++
      for (let i = first; i < first + count; i++) yield { index: i, bytes: new Uint8Array(PIECE) }
    }
  }
  return peer
}

test('a BUSY back-off that ends between two clock readings is waited out, not taken for "no source"', async () => {
  // the back-off is in force at the first reading and over at every later one:
  // the scheduler skipped the peer, so it must wait for it, whatever a later reading says
  let reads = 0
  const peer = scriptedPeer(() => (++reads === 1 ? performance.now() + 1 : undefined))
  const store = memoryStore(4)
  const d = new Downloader({ store, sources: [peer], pollMs: 10 })
  const stats = await run(d)
  assert.equal(store.complete, true)
  assert.ok(peer.asked >= 1)
  assert.equal(stats.bytesFromPeers, 4 * PIECE)
})

test('with no usable source and no back-off, the download fails at once with PIECE_UNAVAILABLE', async () => {
  const store = memoryStore(2)
  const peer = scriptedPeer(() => undefined)
  const d = new Downloader({ store, sources: [{ ...peer, has: () => false, fetch: peer.fetch }], pollMs: 10 })
  await assert.rejects(run(d), (err: unknown) => err instanceof PieceUnavailableError && err.code === 'PIECE_UNAVAILABLE')
})

test('wake-ups do not multiply the polling: the loop keeps one poll timer, however often it is woken', async () => {
  const store = memoryStore(2)
  const peer = scriptedPeer(() => undefined)
  let passes = 0
  let waiting = true
  const d = new Downloader({
    store,
    sources: [{ ...peer, has: () => false, fetch: peer.fetch }],
    pollMs: 50,
    // called on every pass that finds nothing to start: counts the passes
    policy: { waiting: () => { passes++; return waiting } }
  })
  const done = run(d).catch((err: unknown) => err)
  // 300 wake-ups, each while the loop waits (a HAVE or a piece would do the same)
  for (let k = 0; k < 300; k++) { d.poke(); await new Promise(resolve => setImmediate(resolve)) }
  const before = passes
  await new Promise(resolve => setTimeout(resolve, 500))
  const idle = passes - before
  waiting = false
  assert.ok(await done instanceof PieceUnavailableError)
  // one timer: about 500 / 50 = 10 passes; a timer left by every wake-up would poll 300 × 10 times
  assert.ok(idle <= 40, `${idle} passes in 0.5 s of idle waiting`)
})

test('the rate limiter is charged the full piece even when the store takes (detaches) an owned buffer at once', async () => {
  const pieces = 4
  const base = memoryStore(pieces)
  // like the real store with adopt: the buffer is moved away (to a hash worker) before put's first await
  const store: StoreLike = {
    manifest: base.manifest,
    have: base.have,
    get complete () { return base.complete },
    put: async (index, bytes, signal, opts) => {
      if (opts?.adopt === true) structuredClone(bytes.buffer, { transfer: [bytes.buffer as ArrayBuffer] })
      return await base.put(index, bytes, signal, opts)
    }
  }
  const peer: PieceSource = {
    id: 'peer:owned',
    kind: 'peer',
    has: () => true,
    async * fetch (first: number, count: number): AsyncGenerator<PieceData> {
      for (let i = first; i < first + count; i++) yield { index: i, bytes: new Uint8Array(PIECE), owned: true }
    }
  }
  let charged = 0
  const d = new Downloader({ store, sources: [peer], pollMs: 10, limiter: { consume: async (n) => { charged += n } } })
  await run(d)
  assert.equal(store.complete, true)
  assert.equal(charged, pieces * PIECE)
})

test('sequential: HTTP runs start at piece 0 whatever the random start would be', async () => {
  const runs = async (sequential: boolean): Promise<number[]> => {
    const firsts: number[] = []
    const origin: PieceSource = {
      id: 'http:scripted',
      kind: 'http',
      maxConcurrent: 1,
      has: () => true,
      async * fetch (first: number, count: number): AsyncGenerator<PieceData> {
        firsts.push(first)
        for (let i = first; i < first + count; i++) yield { index: i, bytes: new Uint8Array(PIECE) }
      }
    }
    const store = memoryStore(8)
    await run(new Downloader({ store, sources: [origin], pollMs: 10, maxRangeBytes: 2 * PIECE, random: () => 0.5, sequential }))
    assert.equal(store.complete, true)
    return firsts
  }
  assert.deepEqual(await runs(true), [0, 2, 4, 6], 'in order from piece 0')
  assert.deepEqual(await runs(false), [4, 6, 0, 2], 'from the random start, wrapping')
})
