/**
 * Reading and writing the resume state file. Writes are atomic
 * ({@link writeFileAtomic}); reads accept only a file that decodes, passes its
 * checksum and describes exactly this manifest — anything else is treated as
 * absent, and open() falls back to hashing the data file.
 */
import { pieceCount, type Manifest } from '../manifest/types.js'
import { readSmallFile, writeFileAtomic } from './atomic-file.js'
import { STATE_FILE } from './constants.js'
import type { StoreFs } from './fs.js'
import { decodeState, encodeState, stateLength, type StoreState } from './state-codec.js'

/** Why a state file was not used (for tests and diagnostics). */
export type StateRejection = 'missing' | 'corrupt' | 'mismatch'

export type LoadedState = { state: StoreState } | { rejected: StateRejection, detail: string }

/** Load the state file for `m`; never throws for bad content, only for I/O errors. */
export async function loadState (fs: StoreFs, path: string, m: Manifest): Promise<LoadedState> {
  const cap = stateLength(new TextEncoder().encode(m.contentId).length, pieceCount(m))
  const bytes = await readSmallFile(fs, path, cap)
  if (bytes === undefined) return { rejected: 'missing', detail: 'no state file of a plausible size' }
  const decoded = decodeState(bytes)
  if ('error' in decoded) return { rejected: 'corrupt', detail: decoded.error }
  if (decoded.contentId !== m.contentId) return { rejected: 'mismatch', detail: 'content id differs' }
  if (decoded.size !== m.size || decoded.pieceSize !== m.pieceSize || decoded.pieceCount !== pieceCount(m)) {
    return { rejected: 'mismatch', detail: 'geometry differs from the manifest' }
  }
  return { state: decoded }
}

/** Atomically replace the state file in `dir`. */
export async function saveState (fs: StoreFs, dir: string, state: StoreState): Promise<void> {
  await writeFileAtomic(fs, dir, STATE_FILE, encodeState(state))
}
