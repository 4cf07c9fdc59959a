import test from 'node:test'
import assert from 'node:assert/strict'
import { open, readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Manifest } from '../../src/manifest/types.js'
import { Bitfield } from '../../src/util/bitfield.js'
import { listCache, PieceStore } from '../../src/store/index.js'
import { decodeState, encodeState } from '../../src/store/state-codec.js'
import { content, makeManifest, piece, tempDir } from './fixture.js'

const P = 16 * 1024
const N = 12

function held (b: Bitfield): number[] {
  return Array.from({ length: b.length }, (_, i) => i).filter(i => b.get(i))
}

/** A cache holding pieces `indices` of a fresh random file, store closed. */
async function cacheWith (t: Parameters<typeof tempDir>[0], indices: number[]) {
  const cacheDir = await tempDir(t)
  const data = content(N * P - 1234)
  const m = makeManifest(data, P)
  const store = await PieceStore.open({ cacheDir, manifest: m, checkpointIntervalMs: 5 })
  await Promise.all(indices.map(async i => await store.put(i, piece(data, m, i))))
  await store.close()
  const dir = join(cacheDir, m.contentId)
  return { cacheDir, data, m, dir, statePath: join(dir, 'state'), dataPath: join(dir, 'data') }
}

async function reopen (cacheDir: string, m: Manifest): Promise<PieceStore> {
  return await PieceStore.open({ cacheDir, manifest: m })
}

async function readState (path: string) {
  const decoded = decodeState(new Uint8Array(await readFile(path)))
  assert.ok(!('error' in decoded), 'state file decodes')
  return decoded
}

test('reopen reuses the recorded pieces after re-hashing them', async (t) => {
  const { cacheDir, data, m } = await cacheWith(t, [0, 3, 4, 11])
  const store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [0, 3, 4, 11])
  assert.deepEqual(store.resumed, { source: 'state', claimed: 4, verified: 4 })
  assert.deepEqual(new Uint8Array(await store.read(11)), piece(data, m, 11))
  // and it continues
  assert.deepEqual(await store.put(5, piece(data, m, 5)), { ok: true, duplicate: false })
  await store.close()
  const again = await reopen(cacheDir, m)
  assert.deepEqual(held(again.have), [0, 3, 4, 5, 11])
  await again.close()
})

test('a valid state file is a hint: only its claims are re-hashed', async (t) => {
  const { cacheDir, m, statePath } = await cacheWith(t, [0, 1, 2, 3, 4, 5])
  const done = new Bitfield(N)
  for (const i of [1, 2, 9]) done.set(i) // 9 is claimed but was never written
  await writeFile(statePath, encodeState({ contentId: m.contentId, size: m.size, pieceSize: m.pieceSize, pieceCount: N, done, finalized: false }))
  const store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [1, 2])
  assert.deepEqual(store.resumed, { source: 'state', claimed: 3, verified: 2 })
  await store.close()
  assert.deepEqual(held((await readState(statePath)).done), [1, 2], 'corrected map persisted')
})

test('a truncated, flipped or foreign state file is not trusted: every piece is re-hashed', async (t) => {
  const { cacheDir, m, statePath } = await cacheWith(t, [2, 5, 6, 10])
  const good = new Uint8Array(await readFile(statePath))
  const all = new Bitfield(N)
  all.setAll()
  const foreign = encodeState({ contentId: 'bafyother', size: m.size, pieceSize: m.pieceSize, pieceCount: N, done: all, finalized: true })
  const geometry = encodeState({ contentId: m.contentId, size: m.size + 1, pieceSize: m.pieceSize, pieceCount: N, done: all, finalized: false })
  const flip = (at: number): Uint8Array => { const b = Uint8Array.from(good); b[at] ^= 0x01; return b }
  const variants: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['truncated header', good.subarray(0, 10)],
    ['truncated checksum', good.subarray(0, good.length - 1)],
    ['flipped magic', flip(0)],
    ['flipped bitfield', flip(good.length - 33)],
    ['flipped checksum', flip(good.length - 1)],
    ['foreign content id', foreign],
    ['other geometry', geometry],
    ['garbage', content(good.length)]
  ]
  for (const [name, bytes] of variants) {
    await writeFile(statePath, bytes)
    const store = await reopen(cacheDir, m)
    assert.deepEqual(held(store.have), [2, 5, 6, 10], name)
    assert.equal(store.resumed.source, 'scan', name)
    await store.close()
    assert.deepEqual(held((await readState(statePath)).done), [2, 5, 6, 10], `${name}: rewritten`)
  }
  await unlink(statePath)
  const store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [2, 5, 6, 10], 'missing state')
  assert.equal(store.resumed.source, 'scan')
  await store.close()
})

test('a piece altered in data after it was recorded is dropped on reopen (C2)', async (t) => {
  const { cacheDir, data, m, dataPath, statePath } = await cacheWith(t, [0, 1, 7, 11])
  const h = await open(dataPath, 'r+')
  await h.write(Uint8Array.of(data[7 * P + 500] ^ 0x80), 0, 1, 7 * P + 500)
  await h.write(Uint8Array.of(data[m.size - 1] ^ 0x01), 0, 1, m.size - 1) // last byte of the short last piece
  await h.close()
  const store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [0, 1])
  assert.deepEqual(store.resumed, { source: 'state', claimed: 4, verified: 2 })
  await store.close()
  assert.deepEqual(held((await readState(statePath)).done), [0, 1])
})

test('a data file of the wrong size is resized and fully re-verified', async (t) => {
  const { cacheDir, m, dataPath } = await cacheWith(t, [0, 4, 5, 11])
  await truncate(dataPath, 5 * P + 10) // cuts piece 5 short and 11 off
  let store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [0, 4])
  assert.equal(store.resumed.source, 'scan')
  await store.close()
  assert.equal((await readFile(dataPath)).length, m.size)
  await truncate(dataPath, m.size + P) // too long
  store = await reopen(cacheDir, m)
  assert.deepEqual(held(store.have), [0, 4])
  await store.close()
  assert.equal((await readFile(dataPath)).length, m.size)
})

test('a missing data file starts fresh whatever the state claims', async (t) => {
  const { cacheDir, m, dataPath } = await cacheWith(t, [0, 1, 2])
  await unlink(dataPath)
  const store = await reopen(cacheDir, m)
  assert.equal(store.have.count, 0)
  assert.equal(store.resumed.source, 'fresh')
  await store.close()
})

test('temp files of a crashed state or manifest write are swept on open', async (t) => {
  const { cacheDir, m, dir } = await cacheWith(t, [1])
  await writeFile(join(dir, '.state.0123abcd.tmp'), 'torn')
  await writeFile(join(dir, '.manifest.99ff.tmp'), 'torn')
  const store = await reopen(cacheDir, m)
  await store.close()
  assert.deepEqual((await readdir(dir)).sort(), ['data', 'manifest', 'state'])
})

test('state codec: round trip; every flipped byte and every truncation is detected', () => {
  const done = new Bitfield(21)
  for (const i of [0, 7, 8, 20]) done.set(i)
  const s = { contentId: 'bafyabc', size: 21 * 1000 - 5, pieceSize: 1000, pieceCount: 21, done, finalized: true }
  const bytes = encodeState(s)
  const back = decodeState(bytes)
  assert.ok(!('error' in back))
  assert.deepEqual({ ...back, done: held(back.done) }, { ...s, done: [0, 7, 8, 20] })
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const b = Uint8Array.from(bytes)
      b[i] ^= mask
      assert.ok('error' in decodeState(b), `flip byte ${i}`)
    }
  }
  for (let len = 0; len < bytes.length; len++) assert.ok('error' in decodeState(bytes.subarray(0, len)), `length ${len}`)
  assert.ok('error' in decodeState(Uint8Array.of(...bytes, 0)), 'trailing byte')
})

test('listCache reports each entry from its state file and skips everything else', async (t) => {
  const { cacheDir, data, m } = await cacheWith(t, [0, 1])
  const data2 = content(3 * P)
  const m2 = makeManifest(data2, P)
  const s2 = await PieceStore.open({ cacheDir, manifest: m2, checkpointIntervalMs: 5 })
  await Promise.all([0, 1, 2].map(async i => await s2.put(i, piece(data2, m2, i))))
  await s2.close()
  await writeFile(join(cacheDir, 'strayfile'), 'x')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(cacheDir, 'NotAnId'))
  await mkdir(join(cacheDir, 'bafyempty'))
  await mkdir(join(cacheDir, 'bafybroken'))
  await writeFile(join(cacheDir, 'bafybroken', 'state'), 'garbage')
  const list = await listCache(cacheDir)
  const expected = [
    { contentId: m.contentId, size: m.size, complete: false, pieces: N, have: 2, finalized: false },
    { contentId: m2.contentId, size: m2.size, complete: true, pieces: 3, have: 3, finalized: false }
  ].sort((a, b) => a.contentId < b.contentId ? -1 : 1)
  assert.deepEqual(list, expected)
  assert.deepEqual(await listCache(join(cacheDir, 'nope')), [])
  assert.ok(data.length > 0)
})
