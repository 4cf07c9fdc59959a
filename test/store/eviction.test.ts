import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DEFAULT_MAX_AGE_MS, DEFAULT_MAX_CACHE_SIZE, EVICTING_PREFIX, diskBytes, evictCache, parseCacheSize, planEviction,
  touchCacheEntry, type EvictionCandidate
} from '../../src/store/eviction.js'
import { PieceStore, listCache } from '../../src/store/index.js'
import { content, makeManifest, piece, tempDir } from './fixture.js'

const HOUR = 3600_000
const DAY = 24 * HOUR
const NOW = 1_700_000_000_000

function entry (contentId: string, bytes: number, ageMs: number, flags: Partial<Pick<EvictionCandidate, 'pinned' | 'inUse'>> = {}): EvictionCandidate {
  return { contentId, bytes, lastUsed: NOW - ageMs, pinned: flags.pinned ?? false, inUse: flags.inUse ?? false }
}

describe('planEviction', () => {
  it('documented defaults are the real ones', () => {
    assert.equal(DEFAULT_MAX_AGE_MS, 3 * DAY)
    assert.equal(DEFAULT_MAX_CACHE_SIZE, '20%')
    assert.equal(parseCacheSize(DEFAULT_MAX_CACHE_SIZE, 1000), 200)
  })

  it('removes everything older than maxAge first, oldest first, even under the size cap', () => {
    const entries = [entry('a', 10, 1 * HOUR), entry('b', 10, 5 * DAY), entry('c', 10, 4 * DAY), entry('d', 10, 3 * DAY)]
    assert.deepEqual(planEviction(entries, { maxBytes: Infinity, maxAgeMs: 3 * DAY, now: NOW }), ['b', 'c'], 'exactly maxAge old is kept')
  })

  it('then evicts least-recently-used entries until the total fits', () => {
    const entries = [entry('a', 40, 1 * HOUR), entry('b', 30, 3 * HOUR), entry('c', 20, 2 * HOUR), entry('d', 10, 4 * HOUR)]
    // total 100
    assert.deepEqual(planEviction(entries, { maxBytes: 100, maxAgeMs: Infinity, now: NOW }), [], 'total equal to the cap fits')
    assert.deepEqual(planEviction(entries, { maxBytes: 99, maxAgeMs: Infinity, now: NOW }), ['d'])
    assert.deepEqual(planEviction(entries, { maxBytes: 60, maxAgeMs: Infinity, now: NOW }), ['d', 'b'])
    assert.deepEqual(planEviction(entries, { maxBytes: 0, maxAgeMs: Infinity, now: NOW }), ['d', 'b', 'c', 'a'])
    // age first, then LRU on what is left
    assert.deepEqual(planEviction(entries, { maxBytes: 50, maxAgeMs: 3.5 * HOUR, now: NOW }), ['d', 'b', 'c'])
  })

  it('breaks ties in last use by content id', () => {
    const entries = [entry('z', 10, HOUR), entry('m', 10, HOUR), entry('a', 10, HOUR)]
    assert.deepEqual(planEviction(entries, { maxBytes: 10, maxAgeMs: Infinity, now: NOW }), ['a', 'm'])
  })

  it('never removes pinned or in-use entries, even expired or over the cap', () => {
    const entries = [
      entry('pinned', 500, 30 * DAY, { pinned: true }),
      entry('busy', 500, 30 * DAY, { inUse: true }),
      entry('old', 10, 10 * DAY),
      entry('fresh', 10, HOUR)
    ]
    assert.deepEqual(planEviction(entries, { maxBytes: 100, maxAgeMs: 3 * DAY, now: NOW }), ['old', 'fresh'],
      'evictable ones go; the cap stays exceeded by what is protected')
    assert.deepEqual(planEviction(entries, { maxBytes: 1010, maxAgeMs: Infinity, now: NOW }), ['old'])
  })

  it('works with a percentage cap', () => {
    const disk = 1000
    const entries = [entry('a', 100, HOUR), entry('b', 100, 2 * HOUR), entry('c', 100, 3 * HOUR)]
    assert.deepEqual(planEviction(entries, { maxBytes: parseCacheSize('10%', disk), maxAgeMs: Infinity, now: NOW }), ['c', 'b'])
    assert.deepEqual(planEviction(entries, { maxBytes: parseCacheSize('20%', disk), maxAgeMs: Infinity, now: NOW }), ['c'])
    assert.deepEqual(planEviction(entries, { maxBytes: parseCacheSize('19.9%', disk), maxAgeMs: Infinity, now: NOW }), ['c', 'b'])
    assert.deepEqual(planEviction(entries, { maxBytes: parseCacheSize('30%', disk), maxAgeMs: Infinity, now: NOW }), [])
  })

  it('rejects bad limits and entries with UsageError', () => {
    const ok = { maxBytes: 10, maxAgeMs: 10, now: NOW }
    assert.throws(() => planEviction([], { ...ok, maxBytes: -1 }), { code: 'USAGE' })
    assert.throws(() => planEviction([], { ...ok, maxAgeMs: NaN }), { code: 'USAGE' })
    assert.throws(() => planEviction([], { ...ok, now: Infinity }), { code: 'USAGE' })
    assert.throws(() => planEviction([entry('a', -1, 0)], ok), { code: 'USAGE' })
    assert.throws(() => planEviction([entry('a', 1, 0), entry('a', 1, 0)], ok), /listed twice/)
  })
})

describe('parseCacheSize', () => {
  it('accepts bytes, units and percentages', () => {
    const disk = 500 * 2 ** 30
    const cases: Array<[string | number, number]> = [
      [0, 0],
      [12345, 12345],
      [1.9, 1],
      ['4096', 4096],
      ['10GB', 10e9],
      ['10gb', 10e9],
      ['10GiB', 10 * 2 ** 30],
      ['500MB', 500e6],
      ['500 MiB', 500 * 2 ** 20],
      ['1.5GiB', 1.5 * 2 ** 30],
      ['2TB', 2e12],
      ['64KiB', 65536],
      ['64k', 65536],
      ['10G', 10 * 2 ** 30],
      ['100B', 100],
      [' 20% ', 100 * 2 ** 30],
      ['100%', disk],
      ['0.5%', Math.floor(disk * 0.005)]
    ]
    for (const [text, bytes] of cases) assert.equal(parseCacheSize(text, disk), bytes, JSON.stringify(text))
  })

  it('throws a UsageError with a clear message otherwise', () => {
    for (const bad of ['', 'abc', '-5', '10XB', '10 G B', 'GB', '1e9', '0%', '101%', '10%%', -1, NaN, Infinity]) {
      assert.throws(() => parseCacheSize(bad, 1000), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'USAGE', JSON.stringify(bad))
        assert.match(err.message, /cache size/)
        return true
      })
    }
    assert.throws(() => parseCacheSize('10XB', 1000), /unknown unit "XB"/)
    assert.throws(() => parseCacheSize('20%', NaN), /disk size unknown/)
    assert.throws(() => parseCacheSize('99999999999TB', 1), /too large/)
  })
})

describe('evictCache', () => {
  const P = 16 * 1024

  /** A complete cached content of `size` bytes, last used `ageMs` ago (state mtime). */
  async function cached (cacheDir: string, size: number, ageMs: number): Promise<string> {
    const data = content(size)
    const m = makeManifest(data, P)
    const store = await PieceStore.open({ cacheDir, manifest: m })
    for (let i = 0; i * P < size; i++) assert.equal((await store.put(i, piece(data, m, i))).ok, true)
    await store.close()
    await age(cacheDir, m.contentId, ageMs)
    return m.contentId
  }

  async function age (cacheDir: string, id: string, ageMs: number): Promise<void> {
    const t = new Date(NOW - ageMs)
    await utimes(join(cacheDir, id, 'state'), t, t)
  }

  it('removes expired and least-recently-used entries, keeps pinned and in-use ones', async (t) => {
    const cacheDir = await tempDir(t)
    const expired = await cached(cacheDir, 3 * P, 5 * DAY)
    const pinnedOld = await cached(cacheDir, 3 * P, 9 * DAY)
    const lru = await cached(cacheDir, 4 * P, 2 * DAY)
    const recent = await cached(cacheDir, 2 * P, HOUR)
    // in use: a store is open on it right now
    const busyData = content(5 * P)
    const busyManifest = makeManifest(busyData, P)
    const busyStore = await PieceStore.open({ cacheDir, manifest: busyManifest })
    t.after(async () => { await busyStore.close().catch(() => {}) })
    await age(cacheDir, busyManifest.contentId, 20 * DAY)
    // not content: left alone; a leftover of an interrupted eviction: swept
    await mkdir(join(cacheDir, 'NotAnId'))
    await writeFile(join(cacheDir, 'notes'), 'x')
    await mkdir(join(cacheDir, `${EVICTING_PREFIX}abc-1234`, 'sub'), { recursive: true })

    const result = await evictCache(cacheDir, {
      maxBytes: 12 * P, // total is 17 pieces' worth
      maxAgeMs: 3 * DAY,
      pinned: new Set([pinnedOld]),
      inUse: new Set([busyManifest.contentId]),
      now: () => NOW
    })
    assert.deepEqual(result.removed, [expired, lru])
    assert.equal(result.freedBytes, 7 * P)
    const left = (await listCache(cacheDir)).map(e => e.contentId).sort()
    assert.deepEqual(left, [pinnedOld, recent, busyManifest.contentId].sort())
    const names = await readdir(cacheDir)
    assert.ok(names.includes('NotAnId') && names.includes('notes'), 'only entry directories are removed')
    assert.ok(!names.some(n => n.startsWith(EVICTING_PREFIX)), 'leftovers swept')

    // the open store still works
    assert.equal((await busyStore.put(0, piece(busyData, busyManifest, 0))).ok, true)
    assert.ok(Buffer.from(await busyStore.read(0)).equals(piece(busyData, busyManifest, 0)))
  })

  it('touchCacheEntry marks use, so LRU keeps the touched entry', async (t) => {
    const cacheDir = await tempDir(t)
    const a = await cached(cacheDir, 2 * P, 3 * HOUR)
    const b = await cached(cacheDir, 2 * P, 2 * HOUR)
    assert.equal(await touchCacheEntry(cacheDir, a, new Date(NOW)), true)
    assert.equal((await stat(join(cacheDir, a, 'state'))).mtimeMs, NOW)
    const result = await evictCache(cacheDir, { maxBytes: 3 * P, now: () => NOW })
    assert.deepEqual(result, { removed: [b], freedBytes: 2 * P })
    assert.equal(await touchCacheEntry(cacheDir, b), false, 'gone')
    await assert.rejects(touchCacheEntry(cacheDir, '../etc'), { code: 'USAGE' })
  })

  it('a re-checked in-use set protects content marked while eviction was reading the cache', async (t) => {
    const cacheDir = await tempDir(t)
    const a = await cached(cacheDir, 2 * P, DAY)
    const inUse = new Set<string>()
    // mark it in use as soon as the clock is read (after the listing, before removal)
    const result = await evictCache(cacheDir, { maxBytes: 0, inUse, now: () => { inUse.add(a); return NOW } })
    assert.deepEqual(result.removed, [])
    assert.equal((await listCache(cacheDir)).length, 1)
  })

  it('an empty or missing cache is nothing to do; bad limits throw UsageError', async (t) => {
    const cacheDir = await tempDir(t)
    assert.deepEqual(await evictCache(join(cacheDir, 'missing'), { maxBytes: 0 }), { removed: [], freedBytes: 0 })
    assert.deepEqual(await evictCache(cacheDir, { maxBytes: 0 }), { removed: [], freedBytes: 0 })
    await assert.rejects(evictCache(cacheDir, { maxBytes: -1 }), { code: 'USAGE' })
  })

  it('diskBytes reports the file system size, also for a path not created yet', async (t) => {
    const dir = await tempDir(t)
    const total = await diskBytes(dir)
    const free = await diskBytes(dir, 'free')
    assert.ok(Number.isSafeInteger(total) && total > 0)
    assert.ok(free >= 0 && free <= total)
    assert.equal(await diskBytes(join(dir, 'not', 'yet')), total)
  })
})
