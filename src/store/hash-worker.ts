/**
 * Worker side of {@link HashPool}: SHA-256 of a moved buffer, handed back
 * (moved again) with its digest. Nothing else runs here.
 */
import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashReply, HashRequest } from './hash-pool.js'

const port = parentPort
if (port === null) throw new Error('hash-worker.js must run as a worker thread')
port.on('message', (req: HashRequest) => {
  let reply: HashReply
  try {
    const view = new Uint8Array(req.buffer, 0, req.length)
    const digest = new Uint8Array(createHash('sha256').update(view).digest())
    reply = { id: req.id, buffer: req.buffer, digest }
  } catch (err) {
    reply = { id: req.id, buffer: req.buffer, error: String(err) }
  }
  port.postMessage(reply, [req.buffer])
})
