/**
 * Test helpers for the store: manifests built directly from bytes (no
 * dependency on src/manifest), temp directories, and a file system with
 * switchable faults.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Manifest } from '../../src/manifest/types.js'
import { nodeStoreFs, type StoreFileHandle, type StoreFs } from '../../src/store/index.js'

export const sha256 = (b: Uint8Array): Uint8Array => createHash('sha256').update(b).digest()

/** A Manifest-typed object for `data`; the content id is derived from the data so two processes agree on it. */
export function makeManifest (data: Uint8Array, pieceSize: number, overrides: Partial<Manifest> = {}): Manifest {
  const pieceHashes: Uint8Array[] = []
  for (let at = 0; at < data.length; at += pieceSize) pieceHashes.push(sha256(data.subarray(at, at + pieceSize)))
  const contentId = 'bafytest' + Buffer.from(sha256(data)).toString('hex').slice(0, 24)
  return {
    contentId,
    format: 1,
    name: 'test.bin',
    size: data.length,
    pieceSize,
    pieceHashes,
    fileHash: sha256(data),
    origins: [],
    createdAt: 0,
    version: 1,
    publisher: 'ed25519:test',
    bytes: new TextEncoder().encode(`manifest of ${contentId}`),
    ...overrides
  }
}

/** Piece `i` of `data` (a view). */
export function piece (data: Uint8Array, m: Manifest, i: number): Uint8Array {
  return data.subarray(i * m.pieceSize, Math.min(data.length, (i + 1) * m.pieceSize))
}

/** Random content of `size` bytes. */
export function content (size: number): Uint8Array {
  return new Uint8Array(randomBytes(size))
}

/** A fresh temp directory, removed when the test ends. */
export async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-store-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

export function errnoError (code: string, op: string, path: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${op} '${path}'`) as NodeJS.ErrnoException
  err.code = code
  err.syscall = op
  err.path = path
  return err
}

export type FaultOp = 'open' | 'write' | 'datasync' | 'sync' | 'truncate' | 'rename' | 'copyFile' | 'link'

/**
 * The real file system, except that `faults[op]` — when set and returning an
 * error code for a path — makes that operation fail with it. Counts calls.
 */
export class FaultyFs implements StoreFs {
  faults: Partial<Record<FaultOp, (path: string) => string | undefined>> = {}
  /** Every operation seen, in order. */
  readonly log: Array<{ op: FaultOp, path: string }> = []

  /** How many times `op` ran on a path ending with `suffix` (any path when omitted). */
  count (op: FaultOp, suffix = ''): number {
    return this.log.filter(e => e.op === op && e.path.endsWith(suffix)).length
  }

  /** Forget the log (e.g. the operations of open()). */
  resetLog (): void { this.log.length = 0 }

  /** Fail `op` with `code` on paths containing `fragment` (any path when omitted). */
  inject (op: FaultOp, code: string, fragment = ''): void {
    this.faults[op] = (path) => path.includes(fragment) ? code : undefined
  }

  clear (): void { this.faults = {} }

  #check (op: FaultOp, path: string): void {
    this.log.push({ op, path })
    const code = this.faults[op]?.(path)
    if (code !== undefined) throw errnoError(code, op, path)
  }

  open = async (path: string, flags: string, mode?: number): Promise<StoreFileHandle> => {
    this.#check('open', path)
    const h = await nodeStoreFs.open(path, flags, mode)
    const check = (op: FaultOp): void => { this.#check(op, path) }
    return {
      read: async (b, o, l, p) => await h.read(b, o, l, p),
      write: async (b, o, l, p) => { check('write'); return await h.write(b, o, l, p) },
      datasync: async () => { check('datasync'); await h.datasync() },
      sync: async () => { check('sync'); await h.sync() },
      truncate: async (len) => { check('truncate'); await h.truncate(len) },
      stat: async () => await h.stat(),
      close: async () => { await h.close() }
    }
  }

  rename = async (from: string, to: string): Promise<void> => { this.#check('rename', to); await nodeStoreFs.rename(from, to) }
  unlink = nodeStoreFs.unlink
  mkdir = nodeStoreFs.mkdir
  readdir = nodeStoreFs.readdir
  copyFile = async (src: string, dst: string, mode: number): Promise<void> => { this.#check('copyFile', dst); await nodeStoreFs.copyFile(src, dst, mode) }
  link = async (existing: string, newPath: string): Promise<void> => { this.#check('link', newPath); await nodeStoreFs.link(existing, newPath) }
  fsyncDir = nodeStoreFs.fsyncDir
}

/** Resolves after `ms`. */
export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Settle state of a promise without waiting for it. */
export function track<T> (p: Promise<T>): { settled: () => boolean, promise: Promise<T> } {
  let settled = false
  const promise = p.finally(() => { settled = true })
  promise.catch(() => {})
  return { settled: () => settled, promise }
}
