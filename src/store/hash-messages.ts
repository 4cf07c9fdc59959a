/**
 * The messages between {@link HashPool} and its worker threads
 * (hash-worker.ts). One worker does both jobs of the store: the SHA-256 of
 * a piece moved to it, and the running whole-file hash of a download
 * (running-file-hash.ts) — a second kind of worker would cost a second
 * isolate (~8–10 MB resident) per process.
 */

/** What a running whole-file hash needs to know (its `file-start`). */
export interface FileHashInit {
  dataPath: string
  size: number
  pieceSize: number
  /** read size (bounds the worker's buffer) */
  chunkSize: number
}

/** How a running whole-file hash ended. */
export type FileHashReport =
  | { type: 'digest', hashedBytes: number, digest: Uint8Array }
  | { type: 'failed', message: string }

/** Message to a worker. */
export type WorkerRequest =
  /** hash this moved buffer and hand it back */
  | { type: 'piece', id: number, buffer: ArrayBuffer, length: number }
  /** open the data file and start a running hash `job` */
  | { type: 'file-start', job: number, init: FileHashInit }
  /** these pieces of `job` are verified and written */
  | { type: 'file-written', job: number, written: number[] }
  /** forget `job` (close its file) */
  | { type: 'file-stop', job: number }

/** Message from a worker. */
export type WorkerReply =
  /** the moved buffer, handed back with its digest (or an error) */
  | { type: 'piece', id: number, buffer: ArrayBuffer, digest?: Uint8Array, error?: string }
  /** `job` ended: its digest, or why not; the worker has forgotten it */
  | { type: 'file', job: number, report: FileHashReport }
