/**
 * The file-system operations the store performs, behind an interface so tests
 * can inject faults (ENOSPC on a write, a failing fsync or rename) without
 * filling a real disk. The default implementation is `node:fs/promises`, whose
 * `FileHandle` already satisfies {@link StoreFileHandle}.
 */
import * as fsp from 'node:fs/promises'

/** The subset of `FileHandle` the store uses. Positions are absolute (positional I/O). */
export interface StoreFileHandle {
  read: (buffer: Uint8Array, offset: number, length: number, position: number) => Promise<{ bytesRead: number }>
  write: (buffer: Uint8Array, offset: number, length: number, position: number) => Promise<{ bytesWritten: number }>
  /** fdatasync(2): data (and the size) reach the disk. */
  datasync: () => Promise<void>
  /** fsync(2). */
  sync: () => Promise<void>
  truncate: (length: number) => Promise<void>
  /** `nlink` tells whether the file is shared with a delivered output (a hard link). */
  stat: () => Promise<{ size: number, nlink?: number }>
  close: () => Promise<void>
}

/** Injectable fs operations; see {@link nodeStoreFs}. */
export interface StoreFs {
  open: (path: string, flags: string, mode?: number) => Promise<StoreFileHandle>
  rename: (from: string, to: string) => Promise<void>
  unlink: (path: string) => Promise<void>
  /** `mkdir -p`. */
  mkdir: (path: string) => Promise<void>
  readdir: (path: string) => Promise<string[]>
  copyFile: (src: string, dst: string, mode: number) => Promise<void>
  /** link(2): a second name for the same file. */
  link: (existing: string, newPath: string) => Promise<void>
  /** Make a rename or create inside `dir` durable. */
  fsyncDir: (dir: string) => Promise<void>
}

/** The real file system. */
export const nodeStoreFs: StoreFs = {
  open: async (path, flags, mode) => await fsp.open(path, flags, mode),
  rename: async (from, to) => { await fsp.rename(from, to) },
  unlink: async (path) => { await fsp.unlink(path) },
  mkdir: async (path) => { await fsp.mkdir(path, { recursive: true }) },
  readdir: async (path) => await fsp.readdir(path),
  copyFile: async (src, dst, mode) => { await fsp.copyFile(src, dst, mode) },
  link: async (existing, newPath) => { await fsp.link(existing, newPath) },
  fsyncDir: async (dir) => {
    // Windows cannot open a directory for fsync and NTFS journals renames itself.
    if (process.platform === 'win32') return
    const handle = await fsp.open(dir, 'r')
    try { await handle.sync() } finally { await handle.close() }
  }
}

/**
 * Write all of `bytes` at `position`. A positional write may be short; loop,
 * but fail on a zero-length write instead of spinning.
 */
export async function writeFully (handle: StoreFileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done)
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + done}`)
    done += bytesWritten
  }
}

/**
 * Fill `buffer[0..length)` from `position`. Returns the number of bytes read,
 * which is less than `length` only at end of file.
 */
export async function readFully (handle: StoreFileHandle, buffer: Uint8Array, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead <= 0) break
    done += bytesRead
  }
  return done
}

/** True for "file or directory does not exist" errors. */
export function isNotFound (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** Remove a file, ignoring "already gone"; used on cleanup paths that must not mask the real error. */
export async function unlinkQuiet (fs: StoreFs, path: string): Promise<void> {
  try { await fs.unlink(path) } catch { /* best effort: the caller is already failing or the file is gone */ }
}
