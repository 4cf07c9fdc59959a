/**
 * Worker side of {@link HashPool}. Two jobs, one thread:
 *
 * - `piece`: SHA-256 of a moved buffer, handed back (moved again) with its digest;
 * - `file-*`: running whole-file hashes ({@link RunningFileHash}). Each keeps
 *   a SHA-256 over the longest run of written pieces from the start of its
 *   data file, reading each piece back (from the page cache, usually) as soon
 *   as the run reaches it — one piece per turn of the event loop, so piece
 *   hashes queued meanwhile are not held up behind a long run.
 */
import { createHash, type Hash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import type { FileHashInit, WorkerReply, WorkerRequest } from './hash-messages.js'

const port = parentPort
if (port === null) throw new Error('hash-worker.js must run as a worker thread')

function reply (r: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(r, transfer)
}

function hashPiece (req: Extract<WorkerRequest, { type: 'piece' }>): void {
  let r: WorkerReply
  try {
    const view = new Uint8Array(req.buffer, 0, req.length)
    const digest = new Uint8Array(createHash('sha256').update(view).digest())
    r = { type: 'piece', id: req.id, buffer: req.buffer, digest }
  } catch (err) {
    r = { type: 'piece', id: req.id, buffer: req.buffer, error: String(err) }
  }
  reply(r, [req.buffer])
}

/** running whole-file hashes by job id */
const jobs = new Map<number, FileJob>()

class FileJob {
  readonly #job: number
  readonly #init: FileHashInit
  readonly #count: number
  readonly #written: Uint8Array
  readonly #hash: Hash = createHash('sha256')
  readonly #buf: Buffer
  readonly #fd: number
  #next = 0
  #hashed = 0
  #scheduled = false
  #ended = false

  /** @throws when the data file cannot be opened */
  constructor (job: number, init: FileHashInit) {
    this.#job = job
    this.#init = init
    this.#count = init.size === 0 ? 0 : Math.ceil(init.size / init.pieceSize)
    this.#written = new Uint8Array(this.#count)
    this.#fd = openSync(init.dataPath, 'r')
    this.#buf = Buffer.allocUnsafe(Math.min(init.chunkSize, Math.max(1, init.pieceSize)))
  }

  written (indices: number[]): void {
    for (const i of indices) if (Number.isInteger(i) && i >= 0 && i < this.#count) this.#written[i] = 1
    this.#schedule()
  }

  /** Close the file; nothing more is reported. */
  end (): void {
    if (this.#ended) return
    this.#ended = true
    jobs.delete(this.#job)
    try { closeSync(this.#fd) } catch {} // read-only: nothing to lose
  }

  #schedule (): void {
    if (this.#scheduled || this.#ended) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      try {
        this.#step()
      } catch (err) {
        this.#report({ type: 'failed', message: String(err) })
      }
    })
  }

  /** Hash piece `next` if it is written; report when every piece is in. */
  #step (): void {
    if (this.#ended) return
    const { size, pieceSize } = this.#init
    if (this.#next < this.#count && this.#written[this.#next] === 1) {
      const start = this.#next * pieceSize
      const end = Math.min(size, start + pieceSize)
      for (let at = start; at < end;) {
        const n = readSync(this.#fd, this.#buf, 0, Math.min(this.#buf.length, end - at), at)
        if (n <= 0) throw new Error(`data file ends at ${at}, piece ${this.#next} needs ${end}`)
        this.#hash.update(this.#buf.subarray(0, n))
        at += n
        this.#hashed += n
      }
      this.#next++
    }
    if (this.#next === this.#count) {
      this.#report({ type: 'digest', hashedBytes: this.#hashed, digest: new Uint8Array(this.#hash.digest()) })
    } else if (this.#written[this.#next] === 1) {
      this.#schedule()
    }
  }

  #report (report: Extract<WorkerReply, { type: 'file' }>['report']): void {
    if (this.#ended) return
    this.end()
    reply({ type: 'file', job: this.#job, report })
  }

  /** Start: report at once if there is nothing to hash. */
  start (): void { this.#schedule() }
}

port.on('message', (req: WorkerRequest) => {
  switch (req.type) {
    case 'piece':
      hashPiece(req)
      return
    case 'file-start': {
      let job: FileJob
      try {
        job = new FileJob(req.job, req.init)
      } catch (err) {
        reply({ type: 'file', job: req.job, report: { type: 'failed', message: String(err) } })
        return
      }
      jobs.set(req.job, job)
      job.start()
      return
    }
    case 'file-written':
      jobs.get(req.job)?.written(req.written)
      return
    case 'file-stop':
      jobs.get(req.job)?.end()
  }
})
