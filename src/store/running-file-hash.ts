/**
 * The whole-file SHA-256, computed while the download runs instead of in one
 * pass at the end. A worker thread reads back each piece once the pieces
 * before it are durable — usually from the page cache, moments after the
 * piece was written — and keeps a running hash over that prefix. When the
 * last piece lands, the digest is ready, and finalize() can deliver a hard
 * link without reading the whole file again on the event loop (about a
 * second per GiB here).
 *
 * It reads what the data file holds after each piece verified and was made
 * durable, so it checks the assembled bytes just as the final pass would.
 * What it cannot see is a change to an already-hashed region of the data
 * file by some other local program before finalize: the store never writes
 * a piece it holds, and any piece the store drops (a failed re-verification)
 * invalidates the running hash, after which finalize hashes the whole file
 * as before. The one-pass hash also remains for small files, copies across
 * file systems, and whenever the worker fails.
 */
import { Worker } from 'node:worker_threads'

/** Files smaller than this are hashed in one pass at finalize (a worker costs more). @default 64 MiB */
export const DEFAULT_RUNNING_HASH_MIN_SIZE = 64 * 1024 * 1024

/** workerData of the worker. */
export interface FileHashInit {
  dataPath: string
  size: number
  pieceSize: number
  /** read size (bounds the worker's buffer) */
  chunkSize: number
}

/** Message to the worker: these pieces are durable. */
export interface FileHashNote { durable: number[] }

/** Message from the worker. */
export type FileHashReport =
  | { type: 'digest', hashedBytes: number, digest: Uint8Array }
  | { type: 'failed', message: string }

export class RunningFileHash {
  readonly #worker: Worker
  readonly #result: Promise<Uint8Array | undefined>
  #resolve!: (digest: Uint8Array | undefined) => void
  #settled = false
  #invalid = false

  /** Start hashing; `held` are the pieces already durable (a resumed download). */
  constructor (init: FileHashInit, held: number[], workerUrl: URL = new URL('./file-hash-worker.js', import.meta.url)) {
    this.#result = new Promise(resolve => { this.#resolve = resolve })
    this.#worker = new Worker(workerUrl, { workerData: init })
    this.#worker.unref()
    this.#worker.on('message', (r: FileHashReport) => {
      this.#settle(r.type === 'digest' && r.hashedBytes === init.size ? r.digest : undefined)
    })
    this.#worker.on('error', () => { this.#settle(undefined) })
    this.#worker.on('exit', () => { this.#settle(undefined) })
    if (held.length > 0) this.durable(held)
  }

  /** These pieces were just made durable. */
  durable (indices: number[]): void {
    if (!this.#settled) this.#worker.postMessage({ durable: indices } satisfies FileHashNote)
  }

  /**
   * The digest of the whole data file once every piece was durable, or
   * undefined when it is not available (still missing pieces, invalidated,
   * failed): then hash the file in one pass.
   */
  async digest (signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (this.#invalid) return undefined
    if (this.#settled) return await this.#result
    // every piece is durable when finalize asks, so the answer is on its way;
    // keep the process alive while waiting for it
    this.#worker.ref()
    try {
      return await (signal === undefined ? this.#result : Promise.race([this.#result, abortedAs(signal)]))
    } finally {
      this.#worker.unref()
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
    void this.#worker.terminate()
  }
}

async function abortedAs (signal: AbortSignal): Promise<undefined> {
  return await new Promise(resolve => {
    if (signal.aborted) resolve(undefined)
    else signal.addEventListener('abort', () => { resolve(undefined) }, { once: true })
  })
}
