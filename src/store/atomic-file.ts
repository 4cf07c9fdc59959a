/**
 * Crash-safe replacement of small files (the manifest copy and the resume
 * state): after a crash the file holds the old bytes or the new bytes, never a
 * torn mix (C6). Order: write temp → fsync temp → rename over → fsync directory.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { readFully, unlinkQuiet, writeFully, type StoreFs } from './fs.js'

/** Temp names are `.<name>.<hex>.tmp`; a crash can leave them behind, so open() sweeps them. */
const TEMP_PATTERN = /^\.[a-z]+\.[0-9a-f]+\.tmp$/

/** Atomically replace `dir/name` with `bytes`. */
export async function writeFileAtomic (fs: StoreFs, dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    // 'wx': a fresh name, so a stale temp of a crashed writer is never reused half-written
    const handle = await fs.open(temp, 'wx', 0o644)
    try {
      await writeFully(handle, bytes, 0)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temp, join(dir, name))
  } catch (err) {
    await unlinkQuiet(fs, temp)
    throw err
  }
  // the rename is only durable once the directory entry is
  await fs.fsyncDir(dir)
}

/**
 * Read a small file whole, or `undefined` when it is missing or larger than
 * `maxBytes` (a state file of the wrong size is invalid anyway, and the cap
 * keeps a damaged or planted file from being read into memory).
 */
export async function readSmallFile (fs: StoreFs, path: string, maxBytes: number): Promise<Uint8Array | undefined> {
  let handle
  try {
    handle = await fs.open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const { size } = await handle.stat()
    if (size > maxBytes) return undefined
    const buf = new Uint8Array(size)
    const n = await readFully(handle, buf, size, 0)
    return buf.subarray(0, n)
  } finally {
    await handle.close()
  }
}

/** Delete temp files a crashed {@link writeFileAtomic} left in `dir`. */
export async function removeStaleTemps (fs: StoreFs, dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (TEMP_PATTERN.test(name)) await unlinkQuiet(fs, join(dir, name))
  }
}
