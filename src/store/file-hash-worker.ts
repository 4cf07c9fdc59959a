/**
 * Worker side of {@link RunningFileHash}: keeps a SHA-256 over the longest
 * run of durable pieces from the start of the data file, reading each piece
 * back (from the page cache, usually) as soon as the run reaches it.
 */
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import type { FileHashInit, FileHashNote, FileHashReport } from './running-file-hash.js'

const port = parentPort
if (port === null) throw new Error('file-hash-worker.js must run as a worker thread')
const init = workerData as FileHashInit
const count = init.size === 0 ? 0 : Math.ceil(init.size / init.pieceSize)
const durable = new Uint8Array(count)
const hash = createHash('sha256')
const buf = Buffer.allocUnsafe(Math.min(init.chunkSize, Math.max(1, init.pieceSize)))
const fd = openSync(init.dataPath, 'r')
let next = 0
let hashed = 0

function report (r: FileHashReport): void { port?.postMessage(r) }

/** Hash pieces next, next+1, … while they are durable. */
function advance (): void {
  while (next < count && durable[next] === 1) {
    const start = next * init.pieceSize
    const end = Math.min(init.size, start + init.pieceSize)
    for (let at = start; at < end;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, end - at), at)
      if (n <= 0) throw new Error(`data file ends at ${at}, piece ${next} needs ${end}`)
      hash.update(buf.subarray(0, n))
      at += n
      hashed += n
    }
    next++
  }
  if (next === count) {
    closeSync(fd)
    report({ type: 'digest', hashedBytes: hashed, digest: new Uint8Array(hash.digest()) })
    port?.close()
  }
}

port.on('message', (note: FileHashNote) => {
  try {
    for (const i of note.durable) if (Number.isInteger(i) && i >= 0 && i < count) durable[i] = 1
    advance()
  } catch (err) {
    report({ type: 'failed', message: String(err) })
    port.close()
  }
})
