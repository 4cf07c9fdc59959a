import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * Replace `path` with `data` so that a crash leaves either the old or the new
 * file, never a torn one: temp file in the same directory, fsync, rename,
 * fsync the directory (THREATS C6).
 */
export async function atomicWriteFile (path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  await fsyncDir(dir)
}

/** fsync a directory so a rename inside it is durable (no-op where unsupported). */
export async function fsyncDir (dir: string): Promise<void> {
  let fh
  try {
    fh = await open(dir, 'r')
    await fh.sync()
  } catch {
    // some platforms (Windows) cannot open or fsync directories; rename is still atomic there
  } finally {
    await fh?.close().catch(() => {})
  }
}
