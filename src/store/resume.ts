/**
 * Opening a content directory: create or reopen the files, then decide which
 * pieces the data file really holds. Nothing on disk is trusted — a valid
 * state file only says which pieces to re-hash (C2, T6), and without one every
 * piece is hashed. The corrected map is persisted before the store is used.
 */
import { pieceCount, type Manifest } from '../manifest/types.js'
import { Bitfield } from '../util/bitfield.js'
import { readSmallFile, removeStaleTemps, writeFileAtomic } from './atomic-file.js'
import { MANIFEST_FILE } from './constants.js'
import type { StoreFileHandle, StoreFs } from './fs.js'
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

/** Open the files of `cfg.manifest` under `paths` and re-verify them. */
export async function resume (cfg: StoreConfig, paths: StorePaths): Promise<ResumedStore> {
  const { fs, manifest: m } = cfg
  const n = pieceCount(m)
  await fs.mkdir(paths.dir)
  await removeStaleTemps(fs, paths.dir)
  await ensureManifestCopy(fs, paths, m)

  const { handle, created } = await openData(fs, paths.data)
  try {
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
