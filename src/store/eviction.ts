/**
 * Cache policy (DO: max cache size as bytes or % of disk, max age, pinning).
 * {@link planEviction} is the pure decision; {@link evictCache} applies it to
 * a cache directory. Eviction never removes pinned content or content in use.
 *
 * "Last used" is the mtime of an entry's state file: the store replaces that
 * file on every commit, and {@link touchCacheEntry} bumps it when the content
 * is served or delivered without a commit.
 */
import { randomBytes } from 'node:crypto'
import { readdir, rename, rm, stat, statfs, utimes } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { UsageError, toStoreError } from '../errors.js'
import { STATE_FILE } from './constants.js'
import { isNotFound } from './fs.js'
import { isSafeContentId } from './layout.js'
import { listCache } from './list-cache.js'

/** DO's default cache cap: 20% of the disk. */
export const DEFAULT_MAX_CACHE_SIZE = '20%'

/** DO's default maximum age of cached content: 3 days, in ms. */
export const DEFAULT_MAX_AGE_MS = 3 * 24 * 60 * 60 * 1000

/**
 * An entry being evicted is first renamed to `<cacheDir>/<prefix><id>-<rand>`
 * (atomic: it vanishes whole), then deleted. The prefix is not a content id,
 * so nothing else reads such a directory; leftovers of a crash are swept by
 * the next {@link evictCache}.
 */
export const EVICTING_PREFIX = '.evicting-'

/** One cache entry as the policy sees it. */
export interface EvictionCandidate {
  contentId: string
  /** Bytes the entry occupies. */
  bytes: number
  /** Last use, ms since the epoch (or on the same clock as `now`). */
  lastUsed: number
  /** Pinned by the user: never evicted. */
  pinned: boolean
  /** Open by a download or upload: never evicted. */
  inUse: boolean
}

export interface EvictionLimits {
  /** Total bytes the cache may hold; `Infinity` = no size cap. */
  maxBytes: number
  /** Entries unused for longer than this are removed; `Infinity` = no age limit. */
  maxAgeMs: number
  /** Current time, on the clock of `lastUsed`. */
  now: number
}

/**
 * Decide which entries to remove: first every evictable entry unused for more
 * than `maxAgeMs` (oldest first), then least-recently-used ones until the
 * total is ≤ `maxBytes`. Pinned and in-use entries are never chosen (they
 * still count toward the total, so the cap may stay exceeded). Ties in
 * `lastUsed` break by content id, so the plan is deterministic.
 * Throws {@link UsageError} for bad limits or entries.
 */
export function planEviction (entries: readonly EvictionCandidate[], limits: EvictionLimits): string[] {
  checkLimit(limits.maxBytes, 'maxBytes')
  checkLimit(limits.maxAgeMs, 'maxAgeMs')
  if (typeof limits.now !== 'number' || !Number.isFinite(limits.now)) throw new UsageError(`now must be a finite number, got ${String(limits.now)}`)
  const seen = new Set<string>()
  let total = 0
  for (const e of entries) {
    if (seen.has(e.contentId)) throw new UsageError(`content ${e.contentId} is listed twice`)
    seen.add(e.contentId)
    if (!Number.isFinite(e.bytes) || e.bytes < 0) throw new UsageError(`bytes of ${e.contentId} must be a finite number >= 0, got ${String(e.bytes)}`)
    if (!Number.isFinite(e.lastUsed)) throw new UsageError(`lastUsed of ${e.contentId} must be a finite number, got ${String(e.lastUsed)}`)
    total += e.bytes
  }
  const lru = entries
    .filter(e => !e.pinned && !e.inUse)
    .sort((a, b) => a.lastUsed - b.lastUsed || (a.contentId < b.contentId ? -1 : a.contentId > b.contentId ? 1 : 0))
  const removed: string[] = []
  let i = 0
  // expired entries are a prefix of the LRU order
  for (; i < lru.length; i++) {
    const e = lru[i] as EvictionCandidate
    if (limits.now - e.lastUsed <= limits.maxAgeMs) break
    removed.push(e.contentId)
    total -= e.bytes
  }
  for (; i < lru.length && total > limits.maxBytes; i++) {
    const e = lru[i] as EvictionCandidate
    removed.push(e.contentId)
    total -= e.bytes
  }
  return removed
}

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40
}
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(%|[a-z]+)?$/i

/**
 * Parse a cache size: a byte count (number or digits), a percentage of
 * `diskBytes` (`"20%"`), or a number with a unit — decimal `KB MB GB TB`,
 * binary `KiB MiB GiB TiB`, and `K M G T` as binary (case-insensitive).
 * Fractions are floored to whole bytes. Throws {@link UsageError} otherwise.
 */
export function parseCacheSize (text: string | number, diskBytes: number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new UsageError(`cache size must be a number of bytes >= 0, got ${String(text)}`)
    return Math.floor(text)
  }
  if (typeof text !== 'string') throw new UsageError(`cache size must be a string or a number, got ${typeof text}`)
  const m = SIZE_PATTERN.exec(text.trim())
  const hint = 'expected bytes, a size like "10GB", "500MiB", or a share of the disk like "20%"'
  if (m === null) throw new UsageError(`invalid cache size ${JSON.stringify(text)}: ${hint}`)
  const value = Number(m[1])
  const unit = (m[2] ?? 'b').toLowerCase()
  if (unit === '%') {
    if (value <= 0 || value > 100) throw new UsageError(`invalid cache size ${JSON.stringify(text)}: a percentage must be > 0 and <= 100`)
    if (!Number.isFinite(diskBytes) || diskBytes < 0) throw new UsageError(`cannot use a percentage cache size: disk size unknown (${String(diskBytes)})`)
    return Math.floor(diskBytes * value / 100)
  }
  const scale = UNITS[unit]
  if (scale === undefined) throw new UsageError(`invalid cache size ${JSON.stringify(text)}: unknown unit "${m[2] ?? ''}"; ${hint}`)
  const bytes = Math.floor(value * scale)
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`invalid cache size ${JSON.stringify(text)}: too large`)
  return bytes
}

/**
 * Size of the file system holding `path`, in bytes: `'total'` (default, a
 * stable base for a percentage cap) or `'free'` (available to this user).
 * A path that does not exist yet is measured at its nearest existing parent.
 */
export async function diskBytes (path: string, which: 'total' | 'free' = 'total'): Promise<number> {
  let at = path
  for (;;) {
    try {
      const s = await statfs(at)
      return (which === 'free' ? s.bavail : s.blocks) * s.bsize
    } catch (err) {
      const parent = dirname(at)
      if (!isNotFound(err) || parent === at) throw toStoreError(err, `statfs ${path}`)
      at = parent
    }
  }
}

export interface EvictCacheOptions {
  /** Total bytes the cache may hold (see {@link parseCacheSize}); `Infinity` = no cap. */
  maxBytes: number
  /** Remove entries unused for longer than this, in ms. @default 259200000 (3 days, {@link DEFAULT_MAX_AGE_MS}) */
  maxAgeMs?: number
  /** Content ids never evicted. Checked again right before each removal. */
  pinned?: ReadonlySet<string>
  /** Content ids open right now (downloading, seeding). Checked again right before each removal. */
  inUse?: ReadonlySet<string>
  /** Clock in ms since the epoch. @default Date.now */
  now?: () => number
}

export interface EvictCacheResult {
  /** Content ids removed, in eviction order. */
  removed: string[]
  /** Sum of their file sizes. */
  freedBytes: number
}

/**
 * Apply {@link planEviction} to the cache under `cacheDir`. Entries are those
 * {@link listCache} reports (size = the file's size; directories with no valid
 * state are not touched); last use = mtime of their state file. Each chosen
 * entry is renamed aside and then deleted — only that directory.
 *
 * The caller must not open a store on content while it is being evicted
 * (mark it in `inUse` first: the sets are re-read before each removal).
 */
export async function evictCache (cacheDir: string, opts: EvictCacheOptions): Promise<EvictCacheResult> {
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS
  const pinned = opts.pinned ?? new Set<string>()
  const inUse = opts.inUse ?? new Set<string>()
  const now = opts.now ?? Date.now
  checkLimit(opts.maxBytes, 'maxBytes')
  checkLimit(maxAgeMs, 'maxAgeMs')

  await sweepLeftovers(cacheDir)
  const candidates: EvictionCandidate[] = []
  for (const entry of await listCache(cacheDir)) {
    let lastUsed: number
    try {
      lastUsed = (await stat(join(cacheDir, entry.contentId, STATE_FILE))).mtimeMs
    } catch (err) {
      if (isNotFound(err)) continue // removed meanwhile
      throw toStoreError(err, `stat state of ${entry.contentId}`)
    }
    candidates.push({
      contentId: entry.contentId,
      bytes: entry.size,
      lastUsed,
      pinned: pinned.has(entry.contentId),
      inUse: inUse.has(entry.contentId)
    })
  }
  const sizes = new Map(candidates.map(c => [c.contentId, c.bytes]))
  const removed: string[] = []
  let freedBytes = 0
  for (const id of planEviction(candidates, { maxBytes: opts.maxBytes, maxAgeMs, now: now() })) {
    // T9: only a content id may become a path component; and the sets may have
    // changed while we were reading the cache
    if (!isSafeContentId(id) || pinned.has(id) || inUse.has(id)) continue
    if (await removeEntry(cacheDir, id)) {
      removed.push(id)
      freedBytes += sizes.get(id) ?? 0
    }
  }
  return { removed, freedBytes }
}

/**
 * Mark content as just used (served, delivered) so LRU eviction keeps it:
 * sets its state file's times to now. Returns false if the entry does not exist.
 */
export async function touchCacheEntry (cacheDir: string, contentId: string, when: Date = new Date()): Promise<boolean> {
  if (!isSafeContentId(contentId)) throw new UsageError(`content id ${JSON.stringify(contentId.slice(0, 80))} is not a valid content id`)
  try {
    await utimes(join(cacheDir, contentId, STATE_FILE), when, when)
    return true
  } catch (err) {
    if (isNotFound(err)) return false
    throw toStoreError(err, `touch ${contentId}`)
  }
}

/** Rename the entry aside (atomic), then delete it. False if it was already gone. */
async function removeEntry (cacheDir: string, id: string): Promise<boolean> {
  const aside = join(cacheDir, `${EVICTING_PREFIX}${id}-${randomBytes(4).toString('hex')}`)
  try {
    await rename(join(cacheDir, id), aside)
  } catch (err) {
    if (isNotFound(err)) return false
    throw toStoreError(err, `evict ${id}`)
  }
  try {
    await rm(aside, { recursive: true, force: true })
  } catch (err) {
    throw toStoreError(err, `delete evicted ${id}`)
  }
  return true
}

/** Delete what an interrupted eviction left aside. */
async function sweepLeftovers (cacheDir: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(cacheDir)
  } catch (err) {
    if (isNotFound(err)) return
    throw toStoreError(err, `list cache ${cacheDir}`)
  }
  for (const name of names) {
    if (!name.startsWith(EVICTING_PREFIX)) continue
    await rm(join(cacheDir, name), { recursive: true, force: true }).catch(() => {})
  }
}

function checkLimit (value: number, name: string): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new UsageError(`${name} must be a number >= 0 (Infinity = no limit), got ${String(value)}`)
  }
}
