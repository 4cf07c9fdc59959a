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
 * The same workers run the store's running whole-file hashes
 * ({@link HashPool.startFileHash}): one kind of worker. With two workers,
 * piece hashes go to a worker that runs no file hash when there is one.
 * That pays where pieces arrive in order (a download without peers,
 * {@link sequentialHashPool}): sharing a thread, the file hash fell ~0.4 s
 * behind a 1 GiB HTTP download and finalize waited for it; on its own
 * thread it keeps pace. Where pieces arrive in random order (a swarm) the
 * file hash can only catch up at the end anyway, and a second worker per
 * node made a 20-node LAN run ~4 % slower — so the shared pool keeps one
 * worker on two cores (docs/benchmarks.md, 3 Dec).
 *
 * One pool per process ({@link sharedHashPool}), created on first use. Its
 * workers keep the process alive only while a hash is pending (or a file
 * hash is awaited).
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { FileHashInit, FileHashReport, WorkerReply, WorkerRequest } from './hash-messages.js'
import { sha256 } from './verify.js'

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
  /** pending piece hashes and awaited file hashes: the thread is ref'd while > 0 */
  busy: number
  /** running file hashes on this worker */
  files: number
}

/** For a piece hash: a worker running no file hash beats one that does (the file hash keeps pace on its own thread), then the less busy one. */
function lessLoaded (a: PoolWorker, b: PoolWorker): boolean {
  if ((a.files > 0) !== (b.files > 0)) return a.files === 0
  return a.busy < b.busy
}

interface FileJob {
  worker: PoolWorker
  onEnd: (report: FileHashReport) => void
  /** someone awaits the digest: the worker is held (counted in `busy`) */
  held: boolean
}

/**
 * A running whole-file hash on a pool worker ({@link HashPool.startFileHash}).
 * It ends once, through the `onEnd` given to startFileHash, unless stopped first.
 */
export interface FileHashJob {
  /** These pieces are verified and written: the worker may read them back now. */
  written: (indices: number[]) => void
  /** Keep the process alive until the job ends or is released (while someone awaits its digest). */
  hold: () => void
  release: () => void
  /** Forget the job: its file is closed, `onEnd` is not called. */
  stop: () => void
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
  readonly #files = new Map<number, FileJob>()

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
    for (const w of workers) if (lessLoaded(w, worker)) worker = w
    const id = this.#nextId++
    const result = new Promise<Hashed>((resolve, reject) => { this.#pending.set(id, { resolve, reject, worker }) })
    hold(worker)
    const buffer = bytes.buffer as ArrayBuffer
    worker.thread.postMessage({ type: 'piece', id, buffer, length: bytes.byteLength } satisfies WorkerRequest, [buffer])
    return await result
  }

  /**
   * Start a running SHA-256 of `init.dataPath` on a pool worker (the one with
   * the fewest such jobs). `onEnd` gets the digest once every piece was
   * reported written, or `failed` (unreadable file, worker died, pool
   * closed). Undefined when no worker can run it: hash the file in one pass
   * instead.
   */
  startFileHash (init: FileHashInit, onEnd: (report: FileHashReport) => void): FileHashJob | undefined {
    if (this.#broken || this.size <= 0) return undefined
    const workers = this.#start()
    if (workers === undefined) return undefined
    let worker = workers[0]
    for (const w of workers) if (w.files < worker.files) worker = w
    const id = this.#nextId++
    const job: FileJob = { worker, onEnd, held: false }
    this.#files.set(id, job)
    worker.files++
    worker.thread.postMessage({ type: 'file-start', job: id, init } satisfies WorkerRequest)
    const release = (): void => {
      if (!job.held) return
      job.held = false
      unhold(worker)
    }
    return {
      written: (indices) => {
        if (this.#files.has(id)) worker.thread.postMessage({ type: 'file-written', job: id, written: indices } satisfies WorkerRequest)
      },
      hold: () => {
        if (job.held || !this.#files.has(id)) return
        job.held = true
        hold(worker)
      },
      release,
      stop: () => {
        if (this.#forget(id)) worker.thread.postMessage({ type: 'file-stop', job: id } satisfies WorkerRequest)
      }
    }
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
        const w: PoolWorker = { thread, busy: 0, files: 0 }
        thread.on('message', (reply: WorkerReply) => {
          if (reply.type === 'piece') this.#settle(w, reply)
          else this.#fileEnded(reply.job, reply.report)
        })
        thread.on('error', (err) => { this.#fail(w, err) })
        thread.on('exit', (code) => { this.#fail(w, new Error(`hash worker exited with code ${code}`)) })
        // after the listeners: adding a 'message' listener refs the worker's port again
        thread.unref()
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

  #settle (w: PoolWorker, reply: Extract<WorkerReply, { type: 'piece' }>): void {
    const p = this.#pending.get(reply.id)
    if (p === undefined) return
    this.#pending.delete(reply.id)
    unhold(w)
    const bytes = new Uint8Array(reply.buffer)
    if (reply.digest === undefined) {
      // hash it here rather than fail the caller: the worker could not
      p.resolve(hashInline(bytes))
      return
    }
    p.resolve({ bytes, digest: reply.digest })
  }

  /** A worker died: its pending hashes are lost with their buffers, its file hashes fail; callers fall back. */
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
    for (const [id, f] of this.#files) {
      if (f.worker !== w && this.#workers !== undefined) continue
      this.#fileEnded(id, { type: 'failed', message: `hash worker failed: ${err.message}` })
    }
  }

  #fileEnded (id: number, report: FileHashReport): void {
    const job = this.#files.get(id)
    if (job === undefined) return
    this.#forget(id)
    job.onEnd(report)
  }

  /** Drop a file job (releasing its hold); false if it was gone already. */
  #forget (id: number): boolean {
    const job = this.#files.get(id)
    if (job === undefined) return false
    this.#files.delete(id)
    job.worker.files--
    if (job.held) {
      job.held = false
      unhold(job.worker)
    }
    return true
  }
}

/** One more reason to keep the worker (and so the process) alive. */
function hold (w: PoolWorker): void {
  if (w.busy++ === 0) w.thread.ref()
}

function unhold (w: PoolWorker): void {
  if (--w.busy === 0) w.thread.unref()
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

let sequential: HashPool | undefined

/**
 * The process-wide pool for downloads whose pieces arrive in order (no
 * peers): two workers wherever there are two cores, so the running file
 * hash has a thread of its own (see the module comment).
 */
export function sequentialHashPool (): HashPool {
  sequential ??= new HashPool({ workers: availableParallelism() > 1 ? 2 : 1 })
  return sequential
}
