/**
 * Opening a content directory: create or reopen the files, then decide which
 * pieces the data file really holds. Nothing on disk is trusted — a valid
 * state file only says which pieces to re-hash (C2, T6), and without one every
 * piece is hashed. The corrected map is persisted before the store is used.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { join } from 'node:path'
import { pieceCount, type Manifest } from '../manifest/types.js'
import { Bitfield } from '../util/bitfield.js'
import { readSmallFile, removeStaleTemps, writeFileAtomic } from './atomic-file.js'
import { MANIFEST_FILE } from './constants.js'
import { unlinkQuiet, type StoreFileHandle, type StoreFs } from './fs.js'
import type { StorePaths } from './layout.js'
import type { StoreConfig } from './options.js'
import { loadState, saveState } from './state-file.js'
import { equalBytes, verifyPiecesOnDisk } from './verify.js'

/** How open() arrived at `have`. */
export interface ResumeReport {
  /**
   * `state`: the state file was valid and its claims were re-hashed;
   * `scan`: it was missing, corrupt or for other content, so every piece was hashed;
   * `fresh`: the data file was just created, nothing to find.
   */
  source: 'state' | 'scan' | 'fresh'
  /** Why the state file was not used, or why a scan was forced. */
  detail?: string
  /** Pieces the state file claimed (0 unless `source` is `state`). */
  claimed: number
  /** Pieces that hashed correctly and are now in `have`. */
  verified: number
}

export interface ResumedStore {
  data: StoreFileHandle
  have: Bitfield
  finalized: boolean
  report: ResumeReport
}

/** Open the data file read-write, creating it if absent; `created` tells the caller it holds nothing. */
async function openData (fs: StoreFs, path: string): Promise<{ handle: StoreFileHandle, created: boolean }> {
  try {
    return { handle: await fs.open(path, 'r+'), created: false }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  try {
    return { handle: await fs.open(path, 'wx+', 0o644), created: true }
  } catch (err) {
    // someone created it between our two opens: it is not ours to call empty
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return { handle: await fs.open(path, 'r+'), created: false }
  }
}

/** Keep the signed manifest beside the data so the entry can be re-seeded later; rewrite only if it differs. */
async function ensureManifestCopy (fs: StoreFs, paths: StorePaths, m: Manifest): Promise<void> {
  const existing = await readSmallFile(fs, paths.manifest, m.bytes.length)
  if (existing !== undefined && equalBytes(existing, m.bytes)) return
  await writeFileAtomic(fs, paths.dir, MANIFEST_FILE, m.bytes)
}

function allPieces (n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/**
 * A data file that is also a delivered output (hard link) may be used as it
 * is only while it is complete and untouched: then nothing will write to it.
 * Returns the resumed store in that case, undefined otherwise.
 */
async function sharedWithOutput (cfg: StoreConfig, paths: StorePaths, handle: StoreFileHandle, n: number): Promise<ResumedStore | undefined> {
  const st = await handle.stat()
  if ((st.nlink ?? 1) <= 1 || st.size !== cfg.manifest.size) return undefined
  const loaded = await loadState(cfg.fs, paths.state, cfg.manifest)
  if (!('state' in loaded) || !loaded.state.finalized) return undefined
  const have = await verifyPiecesOnDisk(handle, cfg.manifest, allPieces(n), cfg.signal)
  if (!have.full) return undefined
  return { data: handle, have, finalized: true, report: { source: 'state', claimed: loaded.state.done.count, verified: have.count } }
}

/** Give the cache its own copy of a data file that an output shares, so writes never reach the output. */
async function unshare (fs: StoreFs, paths: StorePaths): Promise<void> {
  const temp = join(paths.dir, `.data.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await fs.copyFile(paths.data, temp, constants.COPYFILE_EXCL)
    const h = await fs.open(temp, 'r+')
    try { await h.sync() } finally { await h.close() }
    await fs.rename(temp, paths.data)
  } catch (err) {
    await unlinkQuiet(fs, temp)
    throw err
  }
  await fs.fsyncDir(paths.dir)
}

/** Open the files of `cfg.manifest` under `paths` and re-verify them. */
export async function resume (cfg: StoreConfig, paths: StorePaths): Promise<ResumedStore> {
  const { fs, manifest: m } = cfg
  const n = pieceCount(m)
  await fs.mkdir(paths.dir)
  await removeStaleTemps(fs, paths.dir)
  await ensureManifestCopy(fs, paths, m)

  let { handle, created } = await openData(fs, paths.data)
  try {
    const shared = await sharedWithOutput(cfg, paths, handle, n)
    if (shared !== undefined) return shared
    if (((await handle.stat()).nlink ?? 1) > 1) {
      // the data file is also a delivered output (finalize links it): never write through it
      await handle.close()
      await unshare(fs, paths)
      handle = await fs.open(paths.data, 'r+')
    }
    const { size } = await handle.stat()
    const resized = size !== m.size
    // sparse extension is fine: holes read as zeros and simply fail their hash
    if (resized) await handle.truncate(m.size)

    const loaded = await loadState(fs, paths.state, m)
    let report: ResumeReport
    let candidates: Iterable<number>
    if (created) {
      candidates = []
      report = { source: 'fresh', claimed: 0, verified: 0 }
    } else if ('state' in loaded && !resized) {
      candidates = allPieces(n).filter(i => loaded.state.done.get(i))
      report = { source: 'state', claimed: loaded.state.done.count, verified: 0 }
    } else {
      candidates = allPieces(n)
      const detail = 'rejected' in loaded ? `state ${loaded.rejected}: ${loaded.detail}` : `data file was ${size} bytes, expected ${m.size}`
      report = { source: 'scan', detail, claimed: 0, verified: 0 }
    }
    const have = await verifyPiecesOnDisk(handle, m, candidates, cfg.signal)
    report.verified = have.count
    const finalized = 'state' in loaded && loaded.state.finalized && have.full

    // the size change must be durable before a map that relies on it
    if (resized) await handle.datasync()
    await saveState(fs, paths.dir, { contentId: m.contentId, size: m.size, pieceSize: m.pieceSize, pieceCount: n, done: have, finalized })
    return { data: handle, have, finalized, report }
  } catch (err) {
    await handle.close().catch(() => {})
    throw err
  }
}
