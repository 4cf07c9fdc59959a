/**
 * Listing the cache from the state files alone — cheap, no hashing. The
 * numbers are what each entry last recorded; open() re-verifies before any
 * piece is used. Directories that are not content ids, or whose state file is
 * missing, corrupt or names other content, are left out.
 */
import { join } from 'node:path'
import { readSmallFile } from './atomic-file.js'
import { STATE_FILE } from './constants.js'
import { isNotFound, nodeStoreFs, type StoreFs } from './fs.js'
import { isSafeContentId } from './layout.js'
import { decodeState, MAX_STATE_LENGTH } from './state-codec.js'
import { toStoreError } from '../errors.js'

/** One cached content as its state file records it. */
export interface CacheEntry {
  contentId: string
  /** File size in bytes. */
  size: number
  /** Every piece recorded durable. */
  complete: boolean
  /** Number of pieces of the file. */
  pieces: number
  /** Number of pieces recorded durable. */
  have: number
  /** A verified output was delivered from this entry by finalize(). */
  finalized: boolean
}

/** List the content cached under `cacheDir`, sorted by content id. A missing `cacheDir` is an empty cache. */
export async function listCache (cacheDir: string, fs: StoreFs = nodeStoreFs): Promise<CacheEntry[]> {
  let names: string[]
  try {
    names = await fs.readdir(cacheDir)
  } catch (err) {
    if (isNotFound(err)) return []
    throw toStoreError(err, `list cache ${cacheDir}`)
  }
  const entries: CacheEntry[] = []
  for (const name of names.sort()) {
    if (!isSafeContentId(name)) continue
    let bytes: Uint8Array | undefined
    try {
      bytes = await readSmallFile(fs, join(cacheDir, name, STATE_FILE), MAX_STATE_LENGTH)
    } catch (err) {
      if (isNotFound(err)) continue // a stray file, not a content directory
      throw toStoreError(err, `read state of ${name}`)
    }
    if (bytes === undefined) continue
    const state = decodeState(bytes)
    if ('error' in state || state.contentId !== name) continue
    entries.push({
      contentId: name,
      size: state.size,
      complete: state.done.full,
      pieces: state.pieceCount,
      have: state.done.count,
      finalized: state.finalized
    })
  }
  return entries
}
