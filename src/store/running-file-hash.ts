/**
 * The whole-file SHA-256, computed while the download runs instead of in one
 * pass at the end. A hash-pool worker (hash-worker.ts; in a pool of two,
 * not the one that hashes pieces — see hash-pool.ts) reads back each piece
 * once it and the pieces before it are verified and written — from the page
 * cache, usually, moments after the write — and keeps a running hash over
 * that prefix. When the last piece lands, the digest is (nearly) ready, and
 * finalize() can deliver a hard link without reading the whole file again
 * (about a second per GiB here).
 *
 * It follows the written pieces, not the durable ones: the bytes a read
 * returns are the bytes the file holds whether or not they have reached the
 * disk yet, and waiting for each group commit left the hash up to a whole
 * batch behind when the last commit landed. Durability is still checked
 * where it matters: finalize() only runs once every piece is durable, and
 * fsyncs the output before the rename. A written piece that then fails its
 * commit invalidates the hash (the store may write it again).
 *
 * It reads what the data file holds after each piece verified, so it checks
 * the assembled bytes just as the final pass would. What it cannot see is a
 * change to an already-hashed region of the data file by some other local
 * program before finalize: the store never writes a piece it holds, and any
 * piece the store drops (a failed re-verification) invalidates the running
 * hash, after which finalize hashes the whole file as before. The one-pass
 * hash also remains for small files, copies across file systems, and
 * whenever the worker fails.
 */
import type { FileHashInit } from './hash-messages.js'
import type { FileHashJob, HashPool } from './hash-pool.js'

export type { FileHashInit, FileHashReport } from './hash-messages.js'

/** Files smaller than this are hashed in one pass at finalize (a worker job costs more). @default 64 MiB */
export const DEFAULT_RUNNING_HASH_MIN_SIZE = 64 * 1024 * 1024

export class RunningFileHash {
  readonly #job: FileHashJob | undefined
  readonly #result: Promise<Uint8Array | undefined>
  #resolve!: (digest: Uint8Array | undefined) => void
  #settled = false
  #invalid = false

  /**
   * Start hashing on a worker of `pool`; `held` are the pieces already
   * held (a resumed download). Without a worker the digest is simply
   * never available.
   */
  constructor (pool: HashPool, init: FileHashInit, held: number[]) {
    this.#result = new Promise(resolve => { this.#resolve = resolve })
    this.#job = pool.startFileHash(init, (r) => {
      this.#settle(r.type === 'digest' && r.hashedBytes === init.size ? r.digest : undefined)
    })
    if (this.#job === undefined) this.#settle(undefined)
    else if (held.length > 0) this.written(held)
  }

  /** These pieces were just verified and written. */
  written (indices: number[]): void {
    if (!this.#settled) this.#job?.written(indices)
  }

  /**
   * The digest of the whole data file once every piece was written, or
   * undefined when it is not available (still missing pieces, invalidated,
   * failed): then hash the file in one pass.
   */
  async digest (signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#invalid) return undefined
    if (this.#settled) return await this.#result
    // every piece is durable when finalize asks, so the answer is on its way;
    // keep the process alive while waiting for it
    this.#job?.hold()
    try {
      return await (signal === undefined ? this.#result : Promise.race([this.#result, abortedAs(signal)]))
    } finally {
      this.#job?.release()
    }
  }

  /** A piece the hash may include was dropped: never use this hash. */
  invalidate (): void {
    this.#invalid = true
    this.#settle(undefined)
  }

  #settle (digest: Uint8Array | undefined): void {
    if (this.#settled) return
    this.#settled = true
    this.#resolve(digest)
    this.#job?.stop()
  }
}

async function abortedAs (signal: AbortSignal): Promise<undefined> {
  return await new Promise(resolve => {
    if (signal.aborted) resolve(undefined)
    else signal.addEventListener('abort', () => { resolve(undefined) }, { once: true })
  })
}
