/**
 * Delivering the output file. Nothing appears at the output path unless it is
 * verified (C1, T3): give the finished data file a second name beside the
 * output (a hard link — no copy, no second copy on disk; a clone or a real
 * copy where the output lies on another file system), fsync it, hash what
 * that name holds, then rename it into place and fsync the directory. Any
 * failure removes the temp.
 *
 * A hard link shares the bytes with the cache. That is safe: the cache
 * re-hashes every piece it serves and re-verifies on open, so an output
 * edited later is never served; and a cache entry that must be written again
 * first gets a private copy (resume.ts), so the output is never changed.
 */
import { createHash, randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { FileHashMismatchError, throwIfAborted, toStoreError } from '../errors.js'
import { IO_CHUNK_SIZE } from './constants.js'
import { readFully, unlinkQuiet, type StoreFileHandle, type StoreFs } from './fs.js'
import { equalBytes } from './verify.js'

export interface DeliverInput {
  fs: StoreFs
  dataPath: string
  outPath: string
  size: number
  fileHash: Uint8Array
  /**
   * SHA-256 of the data file, computed as its pieces became durable
   * (see running-file-hash.ts). Used only when the output is a hard link to
   * the data file (the same bytes); a copy is always hashed.
   */
  dataDigest?: Uint8Array
  signal?: AbortSignal
}

/** Errors meaning "this file system cannot clone", after which a plain copy is worth trying. */
const NO_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS', 'EINVAL', 'ENOTTY'])

/** Copy-on-write clone where the file system can (instant, no extra space), else a real copy. */
async function copyPreferClone (fs: StoreFs, src: string, dst: string): Promise<void> {
  try {
    await fs.copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
  } catch (err) {
    if (!NO_CLONE.has((err as NodeJS.ErrnoException).code ?? '')) throw err
    await unlinkQuiet(fs, dst)
    await fs.copyFile(src, dst, constants.COPYFILE_EXCL)
  }
}

/** Errors meaning "no hard link here" (another file system, or one without links). */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EACCES'])

/** The cheapest verified-to-be-equal second name: hard link, else clone, else copy. */
async function secondName (fs: StoreFs, src: string, dst: string): Promise<'link' | 'copy'> {
  try {
    await fs.link(src, dst)
    return 'link'
  } catch (err) {
    if (!NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err
    await copyPreferClone(fs, src, dst)
    return 'copy'
  }
}

/** SHA-256 and length of a whole file, read in bounded chunks. */
async function hashFile (handle: StoreFileHandle, signal?: AbortSignal): Promise<{ digest: Uint8Array, length: number }> {
  const hash = createHash('sha256')
  const buf = new Uint8Array(IO_CHUNK_SIZE)
  let length = 0
  for (;;) {
    throwIfAborted(signal)
    const n = await readFully(handle, buf, buf.length, length)
    if (n === 0) break
    hash.update(buf.subarray(0, n))
    length += n
  }
  return { digest: hash.digest(), length }
}

/** Temp name beside the output: same directory so the rename is atomic; dot-prefixed so it reads as unfinished. */
export function tempPathFor (outPath: string): string {
  return join(dirname(outPath), `.${basename(outPath)}.doswarm-${randomBytes(6).toString('hex')}.part`)
}

/** Deliver the data file at `outPath` atomically and only if it hashes to `fileHash`. */
export async function deliverVerifiedCopy (input: DeliverInput): Promise<void> {
  const { fs, signal } = input
  const out = resolve(input.outPath)
  const temp = tempPathFor(out)
  try {
    throwIfAborted(signal)
    const how = await secondName(fs, input.dataPath, temp)
    const handle = await fs.open(temp, 'r')
    let result
    try {
      await handle.sync()
      result = how === 'link' && input.dataDigest !== undefined
        ? { digest: input.dataDigest, length: (await handle.stat()).size }
        : await hashFile(handle, signal)
    } finally {
      await handle.close()
    }
    if (result.length !== input.size || !equalBytes(result.digest, input.fileHash)) {
      throw new FileHashMismatchError(`assembled file does not match the manifest's file hash (${result.length} bytes read)`)
    }
    throwIfAborted(signal)
    await fs.rename(temp, out)
  } catch (err) {
    await unlinkQuiet(fs, temp)
    throw toStoreError(err, 'finalize')
  }
  try {
    await fs.fsyncDir(dirname(out))
  } catch (err) {
    // the file in place is verified; only its durability across power loss is in doubt
    throw toStoreError(err, 'finalize: sync output directory')
  }
}
