/**
 * Validation of {@link PieceStoreInit}: every option is checked once, in
 * open(), with an error that names it — and the manifest's geometry is checked
 * again, because the store allocates and addresses the disk from it.
 */
import { ManifestMalformedError, UsageError } from '../errors.js'
import { pieceCount, type Manifest } from '../manifest/types.js'
import { DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_CHECKPOINT_PIECES, MAX_PIECE_SIZE } from './constants.js'
import { nodeStoreFs, type StoreFs } from './fs.js'
import { sharedHashPool, type HashPool } from './hash-pool.js'
import { DEFAULT_RUNNING_HASH_MIN_SIZE } from './running-file-hash.js'

/** Options of {@link PieceStore.open}. */
export interface PieceStoreInit {
  /** Root of the cache; the store uses `<cacheDir>/<contentId>/`. */
  cacheDir: string
  /** A verified manifest. */
  manifest: Manifest
  /**
   * Longest time, in ms, a written piece waits for the group commit that
   * makes it durable. Kept short because a piece occupies its source's
   * request slot until it is durable; pieces that arrive while a commit runs
   * join the next one, so batches still grow with the arrival rate.
   * @default 10
   */
  checkpointIntervalMs?: number
  /**
   * Commit as soon as this many written pieces are waiting.
   * @default 32
   */
  checkpointPieces?: number
  /**
   * File-system operations, injectable for fault tests.
   * @default node:fs/promises ({@link nodeStoreFs})
   */
  fs?: StoreFs
  /**
   * Where piece hashes are computed (worker threads, off the event loop).
   * @default the process-wide pool ({@link sharedHashPool})
   */
  hashPool?: HashPool
  /**
   * Files of at least this many bytes get their whole-file hash computed in a
   * worker thread while the download runs (see running-file-hash.ts), so
   * finalize() need not read the file again. Only with the real file system.
   * @default 67108864 (64 MiB)
   */
  runningHashMinSize?: number
  /** Cancels open() — re-verifying a large cache entry reads the whole file. */
  signal?: AbortSignal
}

/** {@link PieceStoreInit} with defaults applied. */
export interface StoreConfig {
  cacheDir: string
  manifest: Manifest
  checkpointIntervalMs: number
  checkpointPieces: number
  fs: StoreFs
  hashPool: HashPool
  runningHashMinSize: number
  signal?: AbortSignal
}

function isDigest (d: unknown): boolean {
  return d instanceof Uint8Array && d.length === 32
}

/** Check the parts of a manifest the store relies on; throws {@link ManifestMalformedError}. */
export function checkManifestGeometry (m: Manifest): void {
  if (!Number.isSafeInteger(m.size) || m.size < 0) throw new ManifestMalformedError(`bad size ${m.size}`)
  if (!Number.isSafeInteger(m.pieceSize) || m.pieceSize < 1 || m.pieceSize > MAX_PIECE_SIZE) {
    throw new ManifestMalformedError(`bad piece size ${m.pieceSize}`)
  }
  const n = pieceCount(m)
  if (n > 0xffffffff) throw new ManifestMalformedError(`too many pieces (${n})`)
  if (m.pieceHashes.length !== n) throw new ManifestMalformedError(`${m.pieceHashes.length} piece hashes for ${n} pieces`)
  if (!m.pieceHashes.every(isDigest)) throw new ManifestMalformedError('piece hash is not a 32-byte digest')
  if (!isDigest(m.fileHash)) throw new ManifestMalformedError('file hash is not a 32-byte digest')
  if (!(m.bytes instanceof Uint8Array)) throw new ManifestMalformedError('manifest bytes missing')
}

/** Apply defaults and validate; throws {@link UsageError} naming the bad option. */
export function storeConfig (init: PieceStoreInit): StoreConfig {
  if (typeof init.cacheDir !== 'string' || init.cacheDir === '' || init.cacheDir.includes('\0')) {
    throw new UsageError('cacheDir must be a non-empty path')
  }
  const checkpointIntervalMs = init.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS
  if (!Number.isFinite(checkpointIntervalMs) || checkpointIntervalMs < 0) {
    throw new UsageError(`checkpointIntervalMs must be a finite number >= 0, got ${checkpointIntervalMs}`)
  }
  const checkpointPieces = init.checkpointPieces ?? DEFAULT_CHECKPOINT_PIECES
  if (!Number.isSafeInteger(checkpointPieces) || checkpointPieces < 1) {
    throw new UsageError(`checkpointPieces must be an integer >= 1, got ${checkpointPieces}`)
  }
  const runningHashMinSize = init.runningHashMinSize ?? DEFAULT_RUNNING_HASH_MIN_SIZE
  if (!Number.isSafeInteger(runningHashMinSize) || runningHashMinSize < 0) {
    throw new UsageError(`runningHashMinSize must be an integer >= 0, got ${runningHashMinSize}`)
  }
  checkManifestGeometry(init.manifest)
  return { cacheDir: init.cacheDir, manifest: init.manifest, checkpointIntervalMs, checkpointPieces, fs: init.fs ?? nodeStoreFs, hashPool: init.hashPool ?? sharedHashPool(), runningHashMinSize, signal: init.signal }
}
