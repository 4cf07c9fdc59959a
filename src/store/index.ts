/**
 * The piece store: verified, durable storage of one content's pieces under
 * `<cacheDir>/<contentId>/`, resume after crashes, and atomic delivery of the
 * finished file. {@link PieceStore.put} is the integrity choke point.
 *
 * @example
 * ```ts
 * const store = await PieceStore.open({ cacheDir, manifest })
 * store.onDurable = (indices) => { announceHave(indices) }
 * const r = await store.put(i, bytes)
 * if (!r.ok) penalise(source, r.reason)
 * if (store.complete) await store.finalize(outPath)
 * await store.close()
 * ```
 */
export { PieceStore, type PutOptions, type PutResult } from './piece-store.js'
export type { PieceStoreInit } from './options.js'
export type { ResumeReport } from './resume.js'
export { listCache, type CacheEntry } from './list-cache.js'
export { nodeStoreFs, type StoreFs, type StoreFileHandle } from './fs.js'
export { writeFileAtomic } from './atomic-file.js'
export { DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_CHECKPOINT_PIECES } from './constants.js'
