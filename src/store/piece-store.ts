/**
 * The piece store: the one place bytes from untrusted sources become part of
 * the download (STYLE §5). A piece is accepted only if its length and SHA-256
 * match the manifest; it joins `have` — and is announced through `onDurable` —
 * only after a group commit made both its bytes and the map that records it
 * durable (T6). Write order per commit: pwrite pieces → fdatasync data →
 * replace state file atomically → update `have` → onDurable.
 *
 * Concurrency: every change of `have`, of the pending map and of a piece's
 * phase happens in a synchronous section; no invariant is left half-done
 * across an `await`.
 */
import { DoswarmError, FileHashMismatchError, PieceNotHeldError, StoreIncompleteError, StoreIoError, throwIfAborted, toStoreError } from '../errors.js'
import { pieceCount, pieceLength, pieceOffset, type Manifest } from '../manifest/types.js'
import type { Bitfield } from '../util/bitfield.js'
import { sharedBufferPool } from '../util/buffer-pool.js'
import { waitFor } from './abort.js'
import { deliverVerifiedCopy } from './finalize.js'
import { IO_CHUNK_SIZE } from './constants.js'
import { nodeStoreFs, readFully, writeFully, type StoreFileHandle, type StoreFs } from './fs.js'
import { GroupCommit } from './group-commit.js'
import { HashPoolError, type Hashed, type HashPool } from './hash-pool.js'
import { RunningFileHash } from './running-file-hash.js'
import { storePaths, type StorePaths } from './layout.js'
import { storeConfig, type PieceStoreInit, type StoreConfig } from './options.js'
import { resume, type ResumedStore, type ResumeReport } from './resume.js'
import { saveState } from './state-file.js'
import { equalBytes, verifyPiecesOnDisk } from './verify.js'

/**
 * Outcome of {@link PieceStore.put}. `ok: false` means the bytes were not
 * piece `index` and nothing was written; the caller should count it against
 * the source. An index outside the file reports `length` (such a piece has
 * length 0, which no offered bytes can match).
 */
export type PutResult =
  | { ok: true, duplicate: boolean }
  | { ok: false, reason: 'length' | 'hash' }

/** A verified piece between its put() and the commit that settles it. */
interface PendingPiece {
  readonly index: number
  phase: 'writing' | 'written' | 'committing'
  /** Set when an fdatasync failed while this piece was being written: its pages may be lost. */
  doomed?: DoswarmError
  readonly done: Promise<void>
  readonly resolve: () => void
  readonly reject: (err: DoswarmError) => void
}

/** Options of {@link PieceStore.put}. */
export interface PutOptions {
  /**
   * Called once, as soon as the store holds no more memory for the piece:
   * its bytes were written (the commit that makes them durable may still be
   * running), or the put ended without a write. A caller bounding the bytes
   * it has in flight can count the piece free from then on, so arrivals keep
   * flowing while a commit's fdatasync runs.
   */
  onWritten?: () => void
  /**
   * The caller gives the buffer away: the store may take it instead of a
   * copy, and it is detached (length 0) while it is hashed in a worker. Only
   * a buffer that owns its whole ArrayBuffer is taken; any other is copied.
   * @default false
   */
  adopt?: boolean
}

/** The store's private copy of a piece, in a buffer from the piece pool. */
function copyOf (bytes: Uint8Array): Uint8Array {
  const copy = sharedBufferPool().take(bytes.byteLength)
  copy.set(bytes)
  return copy
}

/** Give a piece buffer the store will not write back to the pool, and pass `v` on. */
function recycled<T> (bytes: Uint8Array, v: T): T {
  sharedBufferPool().give(bytes)
  return v
}

function isWholeBuffer (b: Uint8Array): boolean {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
}

/** A put after its hash: decided, or waiting for the commit of its piece. */
type Verified = { result: PutResult } | { commit: PendingPiece, duplicate: boolean }

async function settled (verified: Promise<Verified>): Promise<PutResult> {
  const v = await verified
  if ('result' in v) return v.result
  await v.commit.done
  return { ok: true, duplicate: v.duplicate }
}

function pendingPiece (index: number): PendingPiece {
  let resolve!: () => void
  let reject!: (err: DoswarmError) => void
  const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  // a caller that aborted its wait must not turn a later failure into an unhandled rejection
  done.catch(() => {})
  return { index, phase: 'writing', done, resolve, reject }
}

export class PieceStore {
  readonly manifest: Manifest
  /** Pieces verified AND durable. Owned by the store: never mutate it. */
  readonly have: Bitfield
  /** How open() established `have` (state file re-verified, full scan, or fresh). */
  readonly resumed: ResumeReport
  /**
   * Called with the pieces a commit just made durable, synchronously after
   * `have` was updated and their puts were resolved. An exception thrown here
   * does not affect the store; it is re-thrown from a microtask so it surfaces
   * as an uncaught exception instead of vanishing.
   */
  onDurable: ((indices: number[]) => void) | undefined

  readonly #fs: StoreFs
  readonly #paths: StorePaths
  readonly #data: StoreFileHandle
  readonly #pending = new Map<number, PendingPiece>()
  readonly #writes = new Set<Promise<void>>()
  /** puts between their copy and their write (being hashed) */
  readonly #hashing = new Set<Promise<Verified>>()
  readonly #commits: GroupCommit<PendingPiece>
  readonly #hasher: HashPool
  /** whole-file hash kept up to date as pieces land (large files only) */
  readonly #running: RunningFileHash | undefined
  #stateLock: Promise<void> = Promise.resolve()
  #finalized: boolean
  #closing = false
  #closed: Promise<void> | undefined

  private constructor (cfg: StoreConfig, paths: StorePaths, opened: ResumedStore) {
    const { manifest, fs } = cfg
    this.manifest = manifest
    this.#hasher = cfg.hashPool
    this.#fs = fs
    this.#paths = paths
    this.#data = opened.data
    this.have = opened.have
    this.resumed = opened.report
    this.#finalized = opened.finalized
    this.#commits = new GroupCommit({ intervalMs: cfg.checkpointIntervalMs, maxPending: cfg.checkpointPieces, commit: async (batch) => { await this.#commit(batch) } })
    this.#running = fs === nodeStoreFs && manifest.size > 0 && manifest.size >= cfg.runningHashMinSize && !this.have.full
      ? startRunningHash(cfg, paths, this.have)
      : undefined
  }

  /**
   * Create or reopen `<cacheDir>/<contentId>/` and re-verify what it holds.
   * @throws {ManifestMalformedError} unsafe content id or inconsistent geometry
   * @throws {UsageError} bad option
   * @throws {DiskFullError | StoreIoError} the files could not be created or read
   * @throws {AbortedError} `init.signal` fired during re-verification
   */
  static async open (init: PieceStoreInit): Promise<PieceStore> {
    const cfg = storeConfig(init)
    const paths = storePaths(cfg.cacheDir, cfg.manifest.contentId)
    let opened
    try {
      opened = await resume(cfg, paths)
    } catch (err) {
      throw toStoreError(err, `open store ${paths.dir}`)
    }
    return new PieceStore(cfg, paths, opened)
  }

  /** Every piece is durable. */
  get complete (): boolean { return this.have.full }

  /**
   * Offer bytes as piece `index`. Resolves once the piece is durable (or was
   * already), or with `ok: false` when the bytes are not that piece — in which
   * case nothing was written. Bytes are verified even for pieces already held,
   * so a source sending garbage is always reported.
   *
   * A second put of a piece still being committed waits for that commit and
   * shares its outcome. Aborting `signal` ends the wait with
   * {@link AbortedError}; a piece already handed to the disk still commits.
   * See {@link PutOptions} for `onWritten` and `adopt`.
   * @throws {DiskFullError | StoreIoError} the write or its commit failed; the piece is not marked done and may be put again
   */
  async put (index: number, bytes: Uint8Array, signal?: AbortSignal, opts: PutOptions = {}): Promise<PutResult> {
    let notified = false
    const written = (): void => {
      if (notified) return
      notified = true
      opts.onWritten?.()
    }
    try {
      return await this.#put(index, bytes, written, opts.adopt === true, signal)
    } finally {
      written()
    }
  }

  async #put (index: number, bytes: Uint8Array, written: () => void, adopt: boolean, signal?: AbortSignal): Promise<PutResult> {
    throwIfAborted(signal)
    this.#assertOpen()
    const m = this.manifest
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.have.length) return { ok: false, reason: 'length' }
    if (bytes.length !== pieceLength(m, index)) return { ok: false, reason: 'length' }
    // Own the bytes from now on: the caller may reuse its buffer (a network
    // read buffer) as soon as put() returns, and the bytes we hash must be
    // the bytes we write — so take a copy, unless the caller gave us a buffer
    // of its own (adopt) that can be moved. It is moved to a hash worker and
    // back, so nothing can change it between its hash and its write.
    const own = adopt && isWholeBuffer(bytes) ? bytes : copyOf(bytes)
    const verified = this.#verify(index, own, written)
    this.#hashing.add(verified)
    verified.finally(() => this.#hashing.delete(verified)).catch(() => {}) // the caller sees the failure through settled()
    return await waitFor(settled(verified), signal)
  }

  /**
   * Hash the private copy; a matching piece then joins the pending map and
   * its write starts. Settles once that is done — not at the commit — so
   * flush() and close() can wait for it.
   */
  async #verify (index: number, copy: Uint8Array, written: () => void): Promise<Verified> {
    let hashed: Hashed
    try {
      hashed = await this.#hasher.sha256(copy)
    } catch (err) {
      if (err instanceof HashPoolError) throw new StoreIoError(`piece ${index} not taken: ${err.message}`)
      throw err
    }
    const { bytes, digest } = hashed
    if (!equalBytes(digest, this.manifest.pieceHashes[index])) return recycled(bytes, { result: { ok: false, reason: 'hash' } })
    if (this.have.get(index)) return recycled(bytes, { result: { ok: true, duplicate: true } })
    const pending = this.#pending.get(index)
    if (pending !== undefined) return recycled(bytes, { commit: pending, duplicate: true })
    const entry = pendingPiece(index)
    this.#pending.set(index, entry)
    this.#write(entry, bytes, written)
    return { commit: entry, duplicate: false }
  }

  /**
   * The bytes of a held piece, re-hashed before they are returned so a file
   * changed on disk is never served (C2). A piece that fails is dropped from
   * `have` so it can be fetched again.
   * @throws {PieceNotHeldError} `index` is not in `have`
   * @throws {StoreIoError} the read failed or the bytes no longer match
   */
  async read (index: number): Promise<Uint8Array> {
    this.#assertOpen()
    if (!this.have.get(index)) throw new PieceNotHeldError(index)
    const length = pieceLength(this.manifest, index)
    const buf = Buffer.allocUnsafe(length)
    let n: number
    try {
      n = await readFully(this.#data, buf, length, pieceOffset(this.manifest, index))
    } catch (err) {
      throw toStoreError(err, `read piece ${index}`)
    }
    if (n !== length) return this.#readFailed(index)
    let hashed: Hashed
    try {
      hashed = await this.#hasher.sha256(buf)
    } catch (err) {
      if (!(err instanceof HashPoolError)) throw err
      return await this.read(index) // the worker took the buffer with it: read again, hashed inline now
    }
    if (!equalBytes(hashed.digest, this.manifest.pieceHashes[index])) return this.#readFailed(index)
    return hashed.bytes
  }

  #readFailed (index: number): never {
    this.have.set(index, false)
    this.#running?.invalidate()
    throw new StoreIoError(`piece ${index} no longer matches its hash on disk; dropped from the store`)
  }

  /**
   * Commit now every piece put so far, and wait for it.
   * @throws the first error among those pieces (they were rejected to their callers too)
   */
  async flush (): Promise<void> {
    await Promise.allSettled(this.#hashing)
    const entries = [...this.#pending.values()]
    if (entries.length === 0) return
    const results = await this.#commits.urgently(async () => await Promise.allSettled(entries.map(async e => { await e.done })))
    const failed = results.find(r => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
  }

  /**
   * Place a verified copy of the file at `outPath` (see {@link deliverVerifiedCopy}).
   * An existing file there is replaced atomically, and only by a verified
   * one; whether replacing is allowed is the caller's decision.
   * The cache entry stays, marked finalized, as a seedable copy. If the copy
   * does not hash right, the held pieces are re-verified and bad ones dropped,
   * so the download can repair itself.
   * @throws {StoreIncompleteError} not every piece is durable
   * @throws {FileHashMismatchError} the copy does not match `manifest.fileHash`; nothing at `outPath`
   * @throws {DiskFullError | StoreIoError | AbortedError}
   */
  async finalize (outPath: string, signal?: AbortSignal): Promise<void> {
    this.#assertOpen()
    throwIfAborted(signal)
    if (!this.complete) {
      throw new StoreIncompleteError(`${this.have.length - this.have.count} of ${this.have.length} pieces are missing`)
    }
    const m = this.manifest
    try {
      const dataDigest = await this.#running?.digest(signal)
      await deliverVerifiedCopy({ fs: this.#fs, dataPath: this.#paths.data, outPath, size: m.size, fileHash: m.fileHash, dataDigest, signal })
    } catch (err) {
      if (err instanceof FileHashMismatchError) await this.#dropCorruptPieces().catch(() => { /* report the mismatch, not this */ })
      throw err
    }
    this.#finalized = true
    // The flag only informs listings; the output is already delivered and
    // verified, so failing to record it is not a failed finalize.
    await this.#persist([]).catch(() => {})
  }

  /** Flush, then close the data file. Idempotent: later calls return the first call's promise. */
  async close (): Promise<void> {
    this.#closed ??= this.#close()
    await this.#closed
  }

  async #close (): Promise<void> {
    this.#closing = true
    this.#running?.invalidate()
    let error: unknown
    try { await this.flush() } catch (err) { error = err }
    this.#commits.stop()
    await this.#commits.idle()
    await Promise.allSettled(this.#writes)
    try { await this.#data.close() } catch (err) { error ??= toStoreError(err, 'close data file') }
    if (error !== undefined) throw error
  }

  #assertOpen (): void {
    if (this.#closing) throw new StoreIoError('store is closed')
  }

  /** Start the positional write of a verified piece; on success it waits for a group commit. */
  #write (entry: PendingPiece, bytes: Uint8Array, written: () => void): void {
    const write = writeFully(this.#data, bytes, pieceOffset(this.manifest, entry.index)).finally(() => {
      sharedBufferPool().give(bytes) // ours alone: a private copy, or a buffer its source gave away
      written()
    }).then(
      () => {
        if (entry.doomed !== undefined) {
          this.#fail([entry], entry.doomed)
          return
        }
        entry.phase = 'written'
        this.#running?.written([entry.index])
        this.#commits.add(entry)
      },
      (err: unknown) => { this.#fail([entry], toStoreError(err, `write piece ${entry.index}`)) }
    )
    this.#writes.add(write)
    void write.finally(() => this.#writes.delete(write))
  }

  /** One group commit; settles every piece of `batch`. Never throws. */
  async #commit (batch: PendingPiece[]): Promise<void> {
    for (const e of batch) e.phase = 'committing'
    try {
      await this.#data.datasync()
    } catch (err) {
      const error = toStoreError(err, 'sync data file')
      // After a failed fsync Linux may have dropped the dirty pages of every
      // write before it, and a later fsync will not report that again. So fail
      // not only this batch but everything written or being written so far;
      // those puts can be retried and will write fresh pages.
      this.#fail(batch, error)
      this.#fail(this.#commits.takeQueued(), error)
      for (const e of this.#pending.values()) if (e.phase === 'writing') e.doomed = error
      return
    }
    try {
      await this.#persist(batch.map(e => e.index))
    } catch (err) {
      // the bytes are on disk but no map records them: not done
      this.#fail(batch, toStoreError(err, 'persist state'))
      return
    }
    const indices: number[] = []
    for (const e of batch) {
      this.have.set(e.index)
      this.#pending.delete(e.index)
      e.resolve()
      indices.push(e.index)
    }
    this.#announce(indices)
  }

  #fail (entries: PendingPiece[], error: DoswarmError): void {
    // the running hash may have read these pieces; they may be written again
    if (entries.some(e => e.phase !== 'writing')) this.#running?.invalidate()
    for (const e of entries) {
      if (this.#pending.get(e.index) === e) this.#pending.delete(e.index)
      e.reject(error)
    }
  }

  #announce (indices: number[]): void {
    const listener = this.onDurable
    if (listener === undefined || indices.length === 0) return
    try {
      listener(indices)
    } catch (err) {
      queueMicrotask(() => { throw err })
    }
  }

  /** Replace the state file with `have` plus `extra`. Serialised so an older map can never be renamed in last. */
  async #persist (extra: readonly number[]): Promise<void> {
    const run = async (): Promise<void> => {
      const done = this.have.clone()
      for (const i of extra) done.set(i)
      const m = this.manifest
      await saveState(this.#fs, this.#paths.dir, {
        contentId: m.contentId,
        size: m.size,
        pieceSize: m.pieceSize,
        pieceCount: pieceCount(m),
        done,
        finalized: this.#finalized && done.full
      })
    }
    const result = this.#stateLock.then(run, run)
    this.#stateLock = result.catch(() => {})
    await result
  }

  /** After a whole-file mismatch: re-hash every held piece and forget the ones that changed. */
  async #dropCorruptPieces (): Promise<void> {
    this.#running?.invalidate()
    const held: number[] = []
    for (let i = 0; i < this.have.length; i++) if (this.have.get(i)) held.push(i)
    const good = await verifyPiecesOnDisk(this.#data, this.manifest, held)
    for (const i of held) if (!good.get(i)) this.have.set(i, false)
    this.#finalized = false
    await this.#persist([])
  }
}

function startRunningHash (cfg: StoreConfig, paths: StorePaths, have: Bitfield): RunningFileHash | undefined {
  const held: number[] = []
  for (let i = 0; i < have.length; i++) if (have.get(i)) held.push(i)
  try {
    return new RunningFileHash(cfg.hashPool, { dataPath: paths.data, size: cfg.manifest.size, pieceSize: cfg.manifest.pieceSize, chunkSize: IO_CHUNK_SIZE }, held)
  } catch {
    return undefined // no worker: finalize hashes in one pass
  }
}
