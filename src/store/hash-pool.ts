/**
 * SHA-256 off the event loop. Hashing a 1 MiB piece costs about a
 * millisecond of CPU; on the thread that also decrypts and parses the network
 * stream that is a third of a connection's rate (docs/benchmarks.md). The
 * pool hashes large buffers in worker threads instead, without copying them:
 * the buffer is *moved* (transferred) to a worker and back, so while it is
 * hashed nobody — not even the caller — can change it, and the bytes the
 * store writes are exactly the bytes that were hashed. (Shared memory would
 * save the move but is freed only when both threads collect garbage: 1 GiB
 * of pieces left ~800 MB resident in a test, against ~100 MB moved.)
 *
 * Small buffers are hashed inline (a message round trip costs more). If a
 * worker cannot be started or dies, hashing falls back to the calling thread
 * from then on; a buffer a dying worker held is reported lost
 * ({@link HashPoolError}) — never guessed at.
 *
 * One pool per process ({@link sharedHashPool}), created on first use. Its
 * workers keep the process alive only while a hash is pending.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { sha256 } from './verify.js'

/** Message to a worker. */
export interface HashRequest {
  id: number
  buffer: ArrayBuffer
  length: number
}

/** Message from a worker: the buffer comes back with its digest (or an error). */
export interface HashReply {
  id: number
  /** the moved buffer, handed back */
  buffer: ArrayBuffer
  digest?: Uint8Array
  error?: string
}

/** The hashed bytes (the same bytes, now in a buffer the caller owns again) and their SHA-256. */
export interface Hashed {
  bytes: Uint8Array
  digest: Uint8Array
}

/** Buffers smaller than this are hashed on the calling thread. @default 262144 */
export const DEFAULT_INLINE_BELOW = 256 * 1024

export interface HashPoolInit {
  /** Worker threads. @default min(2, max(1, availableParallelism() - 1)) */
  workers?: number
  /** Hash inline below this many bytes. @default 262144 */
  inlineBelow?: number
  /** Worker script (tests use a broken one to exercise the fallback). @default ./hash-worker.js beside this module */
  workerUrl?: URL
}

interface Pending {
  resolve: (h: Hashed) => void
  reject: (err: Error) => void
  worker: PoolWorker
}

interface PoolWorker {
  thread: Worker
  busy: number
}

function hashInline (bytes: Uint8Array): Hashed {
  return { bytes, digest: new Uint8Array(sha256(bytes)) }
}

export class HashPool {
  readonly size: number
  readonly inlineBelow: number
  readonly #workerUrl: URL
  #workers: PoolWorker[] | undefined
  /** set once the workers failed: everything is hashed inline from then on */
  #broken = false
  #nextId = 1
  readonly #pending = new Map<number, Pending>()

  constructor (init: HashPoolInit = {}) {
    this.size = init.workers ?? Math.min(2, Math.max(1, availableParallelism() - 1))
    this.inlineBelow = init.inlineBelow ?? DEFAULT_INLINE_BELOW
    this.#workerUrl = init.workerUrl ?? new URL('./hash-worker.js', import.meta.url)
  }

  /** True once a worker failed and hashing went back to the calling thread. */
  get degraded (): boolean { return this.#broken }

  /**
   * SHA-256 of `bytes`, in a worker when large. A buffer that owns its whole
   * ArrayBuffer is moved to the worker and back as `result.bytes` (the
   * caller's view is detached meanwhile, so nobody can change the bytes while
   * they are hashed); anything else is hashed inline.
   * @throws {HashPoolError} the worker died holding the buffer (the bytes are lost)
   */
  async sha256 (bytes: Uint8Array): Promise<Hashed> {
    const movable = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength
    if (this.#broken || this.size <= 0 || bytes.byteLength < this.inlineBelow || !movable) return hashInline(bytes)
    const workers = this.#start()
    if (workers === undefined) return hashInline(bytes)
    let worker = workers[0]
    for (const w of workers) if (w.busy < worker.busy) worker = w
    const id = this.#nextId++
    const result = new Promise<Hashed>((resolve, reject) => { this.#pending.set(id, { resolve, reject, worker }) })
    if (worker.busy++ === 0) worker.thread.ref()
    const buffer = bytes.buffer as ArrayBuffer
    worker.thread.postMessage({ id, buffer, length: bytes.byteLength } satisfies HashRequest, [buffer])
    return await result
  }

  /** Stop the workers (pending hashes are rejected). The pool starts new ones if used again. */
  async close (): Promise<void> {
    const workers = this.#workers
    this.#workers = undefined
    if (workers === undefined) return
    await Promise.all(workers.map(async w => await w.thread.terminate()))
  }

  #start (): PoolWorker[] | undefined {
    if (this.#workers !== undefined) return this.#workers
    const workers: PoolWorker[] = []
    try {
      for (let i = 0; i < this.size; i++) {
        const thread = new Worker(this.#workerUrl)
        const w: PoolWorker = { thread, busy: 0 }
        thread.unref()
        thread.on('message', (reply: HashReply) => { this.#settle(w, reply) })
        thread.on('error', (err) => { this.#fail(w, err) })
        thread.on('exit', (code) => { this.#fail(w, new Error(`hash worker exited with code ${code}`)) })
        workers.push(w)
      }
    } catch {
      for (const w of workers) void w.thread.terminate()
      this.#broken = true
      return undefined
    }
    this.#workers = workers
    return workers
  }

  #settle (w: PoolWorker, reply: HashReply): void {
    const p = this.#pending.get(reply.id)
    if (p === undefined) return
    this.#pending.delete(reply.id)
    if (--w.busy === 0) w.thread.unref()
    const bytes = new Uint8Array(reply.buffer)
    if (reply.digest === undefined) {
      // hash it here rather than fail the caller: the worker could not
      p.resolve(hashInline(bytes))
      return
    }
    p.resolve({ bytes, digest: reply.digest })
  }

  /** A worker died: its pending hashes are lost with their buffers; callers fall back. */
  #fail (w: PoolWorker, err: Error): void {
    if (this.#workers?.includes(w) === true) {
      this.#broken = true
      for (const other of this.#workers) if (other !== w) void other.thread.terminate()
      this.#workers = undefined
    }
    for (const [id, p] of this.#pending) {
      if (p.worker !== w && this.#workers !== undefined) continue
      this.#pending.delete(id)
      p.reject(new HashPoolError(`hash worker failed: ${err.message}`))
    }
  }
}

/** A worker failed while holding the buffer; the caller must hash its own copy. */
export class HashPoolError extends Error {
  override readonly name = 'HashPoolError'
}

let shared: HashPool | undefined

/** The process-wide pool the store uses. */
export function sharedHashPool (): HashPool {
  shared ??= new HashPool()
  return shared
}
