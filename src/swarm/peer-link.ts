/**
 * One peer, for one content, over one libp2p stream: the peer as a
 * {@link PieceSource} (REQUEST → PIECE with pipelining and deadlines) and the
 * serving side (REQUEST from the peer → fair upload queue → PIECE). Every
 * frame is validated against the content before it is acted on; a violation
 * ends the link and is reported so the swarm can ban the peer.
 */
import { setMaxListeners } from 'node:events'
import { Uint8ArrayList } from 'uint8arraylist'
import { AbortedError, DoswarmError, ProtocolError, SourceBusyError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import {
  MAX_OUTSTANDING_REQUESTS, StreamClosedError, encodeFrame, encodePiece, expectedPieceLength, validateMessage, writeFrames,
  type Frame, type FrameSink, type HelloMessage, type Message, type MessageContext, type PeerRecord
} from '../protocol/index.js'
import type { PieceData, PieceSource } from '../source/index.js'
import { Bitfield } from '../util/bitfield.js'
import type { UploadJob, UploadScheduler } from './upload.js'

/** A request not answered within this time moves to another source (THREATS T2). @default 15000 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000
/** Requests kept in flight on a new link. @default 4 */
export const INITIAL_PIPELINE = 4
/** Most requests kept in flight on one link (the protocol allows 32). @default 16 */
export const MAX_PIPELINE = 16
/** A piece answered faster than this grows the pipeline by one. @default 1000 */
export const PIPELINE_TARGET_MS = 1000
/** HAVE messages beyond twice the piece count are a flood (THREATS R8). */
const HAVE_FLOOD_FACTOR = 2
/**
 * A request that would wait longer than this in our upload queue is answered
 * REJECT BUSY at once (a third of the default request timeout), so the
 * requester asks another holder instead of timing out on us. @default 5000
 */
export const BUSY_WAIT_MS = 5000
/** A peer that answered BUSY is not asked for more for this long. @default 1000 */
export const BUSY_BACKOFF_MS = 1000
/** A write batch takes no more frames once it holds this many bytes (see PeerLink #write). @default 65536 */
export const MAX_BATCH_BYTES = 64 * 1024
/** Unsolicited PIECE frames tolerated (late answers to cancelled requests). */
const MAX_UNSOLICITED = 64

/** What a link needs from its content session. */
export interface PeerLinkHost {
  readonly manifest: Manifest
  readonly ctx: MessageContext
  /** verified, durable pieces we hold, and how to read one */
  readonly have: Bitfield
  read: (index: number) => Promise<Uint8Array>
  readonly uploads: UploadScheduler
  requestTimeoutMs: number
  /** Any valid frame arrived: the peer is alive (it may be slow to announce anything on a busy host). */
  onFrame?: (link: PeerLink) => void
  onHave: (link: PeerLink, index: number) => void
  onClaim: (link: PeerLink, indices: readonly number[], ttlMs: number) => void
  onRelease: (link: PeerLink, indices: readonly number[]) => void
  onPeers: (link: PeerLink, peers: readonly PeerRecord[]) => void
  onUploaded: (link: PeerLink, bytes: number) => void
  /** Rank of an upload of piece `index` among the peer's queued requests, lower first (see upload.ts). @default all equal */
  uploadRank?: (index: number) => number
  /** An upload of piece `index` is about to be read and sent. */
  onUploadStart?: (index: number) => void
  /** The peer broke the protocol: the swarm bans it. */
  onViolation: (link: PeerLink, err: Error) => void
  /** A message of ours could not be encoded (a bug on this side); it was dropped. */
  onLocalError?: (link: PeerLink, err: Error) => void
  onClosed: (link: PeerLink) => void
}

/** The parts of a libp2p v3 stream a link uses. */
export interface LinkStream extends FrameSink {
  close: () => Promise<void>
  abort: (err: Error) => void
}

/** A PIECE payload; `owned` when it is a buffer of its own nobody else holds (see Frame.owned). */
interface Received {
  bytes: Uint8Array
  owned?: true
}

/** Frames queued for one stream write. */
interface Batch {
  chunks: Uint8Array[]
  bytes: number
  /** settles when the batch was handed to the stream */
  written: Promise<void>
}

interface Pending {
  index: number
  started: number
  resolve: (got: Received) => void
  reject: (err: Error) => void
}

/** A request the peer rejected or let time out; not a sign of corruption. */
export class PeerRequestError extends DoswarmError {
  constructor (message: string) { super('PIECE_UNAVAILABLE', message) }
}

export class PeerLink implements PieceSource {
  readonly id: string
  readonly kind = 'peer' as const
  readonly peerId: string
  /** true when we opened the stream */
  readonly outbound: boolean
  /** the peer's chunk map, kept current by HAVE */
  readonly remote: Bitfield
  /** addresses the peer says it listens on (for peer exchange) */
  readonly listenAddrs: readonly string[]
  bytesReceived = 0
  /** when the link was set up (performance.now()) */
  readonly openedAt = performance.now()
  /** the error the link closed with; undefined while open or after a clean close */
  closeError: Error | undefined
  bytesSent = 0
  readonly #stream: LinkStream
  readonly #host: PeerLinkHost
  readonly #frames: AsyncIterator<Frame>
  readonly #pending = new Map<number, Pending>()
  readonly #serving = new Map<number, UploadJob>()
  readonly #closed = (() => {
    const ac = new AbortController()
    // every write in flight listens to it: a busy link has many at once
    setMaxListeners(MAX_PIPELINE + MAX_OUTSTANDING_REQUESTS + 16, ac.signal)
    return ac
  })()
  #nextRequestId = 1
  #pipeline = INITIAL_PIPELINE
  #haves = 0
  #unsolicited = 0
  /** first BUSY answer since the last piece delivered */
  #busySince: number | undefined
  /** frames queued in this tick, not written yet */
  #batch: Batch | undefined

  /** bytes read from the stream so far, frames complete or not (the swarm passes its decoder's count) */
  readonly #bytesIn: () => number

  /**
   * @param init.bytesIn bytes read from the stream so far, complete frames
   *   or not; without it, only complete frames show the peer is alive
   */
  constructor (init: { stream: LinkStream, peerId: string, outbound: boolean, host: PeerLinkHost, hello: HelloMessage, frames: AsyncIterator<Frame>, bytesIn?: () => number }) {
    this.#bytesIn = init.bytesIn ?? (() => this.bytesReceived)
    this.#stream = init.stream
    this.#host = init.host
    this.#frames = init.frames
    this.peerId = init.peerId
    this.id = `peer:${init.peerId}`
    this.outbound = init.outbound
    this.remote = new Bitfield(init.host.ctx.pieceCount, init.hello.bitfield)
    this.listenAddrs = init.hello.listenAddrs
  }

  /**
   * Bytes the peer sent on this link so far, counted as they arrive: a 1 MiB
   * PIECE crawling through a congested link shows the peer alive long before
   * the frame completes.
   */
  get bytesIn (): number { return this.#bytesIn() }

  /** a plain flag: read for every piece on every scheduling pass */
  #isClosed = false
  get closed (): boolean { return this.#isClosed }
  /** performance.now() before which the peer asked us to go elsewhere (BUSY) */
  busyUntil = 0
  /** Pipeline depth: grows while pieces come back fast, halves on timeouts and BUSY. */
  get maxConcurrent (): number { return this.#pipeline }
  has (index: number): boolean { return this.remote.get(index) && !this.#isClosed }

  /** Send a control message (not PIECE). */
  async send (msg: Message): Promise<void> {
    if (this.closed) return
    // a message we cannot encode is our fault, not the peer's: drop it and keep
    // the link (closing with this ProtocolError would read as the peer's violation)
    let frame: Uint8Array[]
    try {
      frame = encodeFrame(msg)
    } catch (err) {
      this.#host.onLocalError?.(this, err as Error)
      return
    }
    try {
      await this.#write(frame)
    } catch (err) {
      this.close(err as Error)
    }
  }

  /**
   * Queue encoded frames; what is queued in one tick leaves in one stream
   * write, in order. A burst of HAVEs or REQUESTs, or a PIECE header and its
   * payload, then costs the muxer one frame, the transport one encryption and
   * one socket write, and the peer one window update — instead of one each.
   * A batch takes no more writes once it holds {@link MAX_BATCH_BYTES}, so a
   * write still overshoots the stream's buffer by at most one piece. Settles
   * when the batch was handed to the stream (after 'drain' if it was full).
   */
  async #write (chunks: readonly Uint8Array[]): Promise<void> {
    let batch = this.#batch
    if (batch === undefined || batch.bytes >= MAX_BATCH_BYTES) {
      const b: Batch = { chunks: [], bytes: 0, written: Promise.resolve() }
      b.written = Promise.resolve().then(async () => {
        if (this.#batch === b) this.#batch = undefined
        await writeFrames(this.#stream, [b.chunks.length === 1 ? b.chunks[0] : new Uint8ArrayList(...b.chunks)], this.#closed.signal)
      })
      this.#batch = batch = b
    }
    for (const c of chunks) { batch.chunks.push(c); batch.bytes += c.byteLength }
    await batch.written
  }

  async * fetch (first: number, count: number, signal: AbortSignal): AsyncGenerator<PieceData> {
    for (let index = first; index < first + count; index++) {
      const { bytes, owned } = await this.#request(index, signal)
      yield owned ? { index, bytes, owned } : { index, bytes }
    }
  }

  #request (index: number, signal: AbortSignal): Promise<Received> {
    if (this.closed) return Promise.reject(new PeerRequestError(`${this.id} is gone`))
    if (signal.aborted) return Promise.reject(new AbortedError())
    const requestId = this.#nextRequestId
    this.#nextRequestId = this.#nextRequestId >= 0xffff_fffe ? 1 : this.#nextRequestId + 1
    return new Promise<Received>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        this.#pending.delete(requestId)
      }
      const cancel = (err: Error): void => {
        if (!this.#pending.has(requestId)) return
        finish()
        void this.send({ type: 'CANCEL', requestId })
        reject(err)
      }
      const onAbort = (): void => { cancel(new AbortedError()) }
      const timer = setTimeout(() => {
        this.#pipeline = Math.max(1, this.#pipeline >> 1)
        cancel(new PeerRequestError(`${this.id} did not answer piece ${index} within ${this.#host.requestTimeoutMs} ms`))
      }, this.#host.requestTimeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#pending.set(requestId, {
        index,
        started: performance.now(),
        resolve: got => { finish(); resolve(got) },
        reject: err => { finish(); reject(err) }
      })
      void this.send({ type: 'REQUEST', requestId, index })
    })
  }

  /** Read and handle frames until the stream ends; never throws. */
  async run (): Promise<void> {
    try {
      for (;;) {
        const next = await this.#frames.next()
        if (next.done === true) break
        this.#handle(next.value)
      }
      // the peer's side ended (it closed the link, or its connection closed
      // cleanly under it): not our choice, so the swarm may open it again
      this.close(new StreamClosedError(`${this.id} closed the link`))
    } catch (err) {
      // a violation is what the peer sent; the error we closed the link with ourselves is not
      if (err instanceof ProtocolError && err !== this.closeError) this.#host.onViolation(this, err)
      this.close(err as Error)
    }
  }

  #handle (frame: Frame): void {
    const msg = frame.message
    validateMessage(msg, this.#host.ctx)
    this.#host.onFrame?.(this)
    switch (msg.type) {
      case 'HELLO':
        throw new ProtocolError('second HELLO on one stream')
      case 'HAVE':
        if (++this.#haves > HAVE_FLOOD_FACTOR * this.#host.ctx.pieceCount) throw new ProtocolError('HAVE flood')
        if (!this.remote.get(msg.index)) { this.remote.set(msg.index); this.#host.onHave(this, msg.index) }
        return
      case 'REQUEST':
        this.#serve(msg.requestId, msg.index)
        return
      case 'PIECE': {
        const p = this.#pending.get(msg.requestId)
        if (p === undefined) {
          if (++this.#unsolicited > MAX_UNSOLICITED) throw new ProtocolError('too many unsolicited PIECE frames')
          return
        }
        if (p.index !== msg.index) throw new ProtocolError(`PIECE for request ${msg.requestId} carries piece ${msg.index}, asked for ${p.index}`)
        const bytes = frame.payload ?? new Uint8Array(0)
        this.bytesReceived += bytes.length
        if (performance.now() - p.started < PIPELINE_TARGET_MS) this.#pipeline = Math.min(MAX_PIPELINE, this.#pipeline + 1)
        this.#busySince = undefined
        // a buffer the decoder assembled is ours alone: the store may take it without a copy
        p.resolve(frame.owned === true ? { bytes, owned: true } : { bytes })
        return
      }
      case 'REJECT': {
        const p = this.#pending.get(msg.requestId)
        if (p === undefined) return
        if (msg.reason === 'NOT_HAVE' && this.remote.get(p.index)) {
          // it advertised the piece and now denies it: stop asking it for that piece
          this.remote.set(p.index, false)
        }
        if (msg.reason === 'BUSY') {
          const now = performance.now()
          this.busyUntil = now + BUSY_BACKOFF_MS
          this.#pipeline = Math.max(1, this.#pipeline >> 1)
          this.#busySince ??= now
          // busy for longer than a request may take, with nothing delivered: as good as a staller (THREATS T2)
          if (now - this.#busySince < this.#host.requestTimeoutMs) p.reject(new SourceBusyError(`${this.id} is busy: piece ${p.index}`))
          else p.reject(new PeerRequestError(`${this.id} has been busy for ${Math.round(now - this.#busySince)} ms without delivering`))
        } else p.reject(new PeerRequestError(`${this.id} rejected piece ${p.index}: ${msg.reason}`))
        return
      }
      case 'CANCEL': {
        const job = this.#serving.get(msg.requestId)
        if (job !== undefined) { this.#serving.delete(msg.requestId); this.#host.uploads.remove(this.peerId, job) }
        return
      }
      case 'CLAIM':
        this.#host.onClaim(this, msg.indices, msg.ttlMs)
        return
      case 'RELEASE':
        this.#host.onRelease(this, msg.indices)
        return
      case 'PEERS':
        this.#host.onPeers(this, msg.peers)
    }
  }

  #serve (requestId: number, index: number): void {
    if (this.#serving.has(requestId)) throw new ProtocolError(`duplicate request id ${requestId}`)
    if (this.#serving.size >= MAX_OUTSTANDING_REQUESTS) throw new ProtocolError(`more than ${MAX_OUTSTANDING_REQUESTS} outstanding requests`)
    // only pieces that verified and are durable are ever served (THREATS T6)
    if (!this.#host.have.get(index)) {
      void this.send({ type: 'REJECT', requestId, index, reason: 'NOT_HAVE' })
      return
    }
    // a peer with nothing queued here is always served; more would only time out in our queue
    if (this.#host.uploads.queued(this.peerId) > 0 && this.#host.uploads.expectedWaitMs() > BUSY_WAIT_MS) {
      void this.send({ type: 'REJECT', requestId, index, reason: 'BUSY' })
      return
    }
    const job: UploadJob = async () => {
      if (this.#serving.get(requestId) !== job || this.closed) return 0
      this.#host.onUploadStart?.(index)
      try {
        const data = await this.#host.read(index)
        if (this.#serving.get(requestId) !== job || this.closed) return 0
        await this.#write(encodePiece(requestId, index, data))
        this.bytesSent += data.length
        this.#host.onUploaded(this, data.length)
        return data.length
      } catch (err) {
        this.close(err as Error)
        return 0
      } finally {
        if (this.#serving.get(requestId) === job) this.#serving.delete(requestId)
      }
    }
    this.#serving.set(requestId, job)
    const host = this.#host
    const rank = host.uploadRank === undefined ? undefined : () => host.uploadRank?.(index) ?? 0
    host.uploads.enqueue(this.peerId, job, expectedPieceLength(host.ctx, index), rank)
  }

  /** End the link: fail pending requests, drop queued uploads, reset the stream on error. Idempotent. */
  close (err?: Error): void {
    if (this.closed) return
    this.closeError = err
    this.#isClosed = true
    this.#closed.abort(err ?? new AbortedError('link closed'))
    for (const p of [...this.#pending.values()]) p.reject(new PeerRequestError(`${this.id} went away`))
    this.#serving.clear()
    this.#host.uploads.drop(this.peerId)
    if (err !== undefined) this.#stream.abort(err)
    else void this.#stream.close().catch(() => { this.#stream.abort(new Error('close failed')) })
    this.#host.onClosed(this)
  }
}
