/**
 * One HTTP exchange: `GET` with `Range: bytes=a-b` for a run of pieces. For
 * `http:` origins it runs on our own HTTP/1.1 client (http1-client.ts: one
 * reused read buffer per connection, body bytes lent, not copied); for
 * `https:` on Node's (node:https). We see each body chunk as the parser
 * delivered it, pause the response when our consumer is behind, and hang up
 * without reading a byte more than asked (THREATS C4, T4, T5).
 *
 * Memory: body bytes are copied straight from each chunk into a
 * preallocated buffer of the current piece. At most one completed piece waits
 * for the consumer; when a second would start while it waits, the response is
 * paused and the rest of the current chunk is copied aside (chunks are only
 * lent to us). Every body byte node:https delivers counts towards the
 * process's {@link sharedGcNudge}: the chunks it allocates are freed by a
 * collection, and nothing else would trigger one soon enough.
 */
import type { Agent, IncomingMessage } from 'node:http'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'
import { sharedBufferPool } from '../util/buffer-pool.js'
import { sharedGcNudge } from '../util/gc-nudge.js'
import { AbortedError, OriginError } from '../errors.js'
import { pieceLength, type Manifest } from '../manifest/types.js'
import type { PieceData } from '../source/index.js'
import { parseRetryAfter } from './backoff.js'
import { MAX_DISCARD_BODY_BYTES, PRIVATE_ADDRESS_REFUSED, REDIRECT_STATUSES } from './constants.js'
import { checkPartialResponse, formatRange, pieceByteRange, type ByteRange } from './http-range.js'
import type { Exchange, Http1Pool } from './http1-client.js'
import { StallWatch, type StallKind, type StallLimits } from './stall.js'

/** What the response head said. Errors reject instead. */
export type ResponseHead =
  | { kind: 'body' }
  | { kind: 'redirect', status: number, location: string }

export interface RangeRequestInit {
  /** keep-alive connection pool for https: (and for http: when `http1` is not given) @default Node's global agent */
  agent?: Agent
  /** our own client's connection pool, used for http: URLs */
  http1?: Http1Pool
  /** address lookup for new connections (the redirect guard) */
  lookup: LookupFunction
  url: URL
  manifest: Pick<Manifest, 'size' | 'pieceSize'>
  first: number
  count: number
  signal: AbortSignal
  limits: StallLimits
  retryAfterCapMs: number
  /** Called with the size of every accepted body chunk (for stats). */
  onBytes: (n: number) => void
  /** bytes/s over the last `windowMs` of every exchange of this source (the minimum-rate rule's second look; see StallWatch) */
  sourceRate?: (windowMs: number) => number
  /** nodes sharing the origin's link now, us included: the minimum rate is divided among them (see StallWatch) */
  sharers?: () => number
}

/**
 * Transport state: `idle` → `headers` (dispatched) → `body` (206 accepted) or
 * `discard` (draining a small redirect/error body) → `done` (ended, failed or aborted).
 */
type State = 'idle' | 'headers' | 'body' | 'discard' | 'done'

/** What RangeRequest needs of a transport, whichever client runs it. */
interface Transport {
  pause: () => void
  resume: () => void
  /** Hang up: no more events (a request still queued for a connection is dropped too). */
  destroy: (err: Error) => void
}

type Headers = Record<string, string | string[] | undefined>

interface Deferred<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: Error) => void
}

export class RangeRequest {
  readonly #init: RangeRequestInit
  readonly #range: ByteRange
  readonly #expected: number
  readonly #watch: StallWatch
  readonly #head: Deferred<ResponseHead> = deferred()
  #state: State = 'idle'
  #transport: Transport | undefined
  /** node:http* only: chunks it allocates are collected by a nudge */
  #nudge = false
  /** Consumer-side outcome: the error `next()` reports once ready pieces are taken. */
  #error: Error | undefined
  #complete = false
  #received = 0
  #discarded = 0
  #nextIndex: number
  #piece: Buffer | undefined
  #fill = 0
  #ready: PieceData | undefined
  #waiter: Deferred<PieceData | null> | undefined
  #paused = false
  #leftover: Buffer | undefined
  #leftoverOff = 0
  #bodyAccepted = false
  #stalled: StallKind | undefined

  constructor (init: RangeRequestInit) {
    this.#init = init
    this.#range = pieceByteRange(init.manifest, init.first, init.count)
    this.#expected = this.#range.end - this.#range.start + 1
    this.#nextIndex = init.first
    this.#watch = new StallWatch(init.limits, this.#onStall, undefined, init.sourceRate, init.sharers)
    // The head promise may be rejected before anyone awaits it; that is not "unhandled".
    this.#head.promise.catch(() => {})
  }

  /** Body bytes of the range received so far. */
  get received (): number { return this.#received }
  /** Bytes of the requested range. */
  get expected (): number { return this.#expected }
  /** A 206 response was accepted: body bytes of the range were (or are being) sent. */
  get bodyAccepted (): boolean { return this.#bodyAccepted }
  /** The rule that failed the exchange for a stall (idle timeout or minimum rate), if one did. */
  get stalled (): StallKind | undefined { return this.#stalled }

  /** Send the request. Resolves when the response head is accepted or is a redirect. */
  async start (): Promise<ResponseHead> {
    const { signal, agent, lookup, url, http1 } = this.#init
    if (signal.aborted) throw new AbortedError()
    signal.addEventListener('abort', this.#onAbort, { once: true })
    this.#state = 'headers'
    const headers = { range: formatRange(this.#range), 'accept-encoding': 'identity', 'user-agent': 'doswarm' }
    if (url.protocol === 'http:' && http1 !== undefined) {
      const exchange: Exchange = http1.request(url, headers, {
        socket: this.#onSocket,
        head: this.#onHead,
        data: this.#onData,
        end: this.#onEnd,
        error: this.#onError
      })
      this.#transport = { pause: () => { exchange.pause() }, resume: () => { exchange.resume() }, destroy: () => { exchange.destroy() } }
    } else {
      this.#nudge = true
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest
      const req = send(url, { method: 'GET', agent, lookup, headers })
      let res: IncomingMessage | undefined
      this.#transport = {
        pause: () => { res?.pause() },
        resume: () => { res?.resume() },
        destroy: (err) => { req.destroy(err) }
      }
      // the clocks start once the request has a connection, not while it queues for one
      req.once('socket', this.#onSocket)
      req.once('response', (r: IncomingMessage) => {
        res = r
        r.on('data', this.#onData)
        r.once('end', this.#onEnd)
        r.once('close', this.#onClose)
        r.on('error', this.#onError)
        if (this.#state !== 'headers') {
          r.resume()
          return
        }
        this.#onHead(r.statusCode ?? 0, r.headers)
      })
      req.on('error', this.#onError)
      req.end()
    }
    return await this.#head.promise
  }

  /** The next complete piece, `null` after the last one, or the exchange's error. */
  async next (): Promise<PieceData | null> {
    const ready = this.#ready
    if (ready !== undefined) {
      this.#ready = undefined
      this.#resume()
      return ready
    }
    if (this.#error !== undefined) throw this.#error
    if (this.#complete) return null
    const waiter = deferred<PieceData | null>()
    this.#waiter = waiter
    return await waiter.promise
  }

  /**
   * Release the exchange. An unfinished body is aborted (the connection is
   * closed); a small redirect/error body being drained is left to finish so
   * the connection can be reused — its stall watch still bounds it.
   */
  close (): void {
    if (this.#state === 'discard') return
    this.#abortTransport(new AbortedError('range request closed'))
  }

  // ---- transport events ------------------------------------------------

  readonly #onSocket = (): void => {
    if (this.#state === 'headers') this.#watch.start(false)
  }

  readonly #onHead = (status: number, headers: Headers): void => {
    if (this.#state !== 'headers') return
    const url = this.#init.url.href
    if (status === 206) {
      const problem = checkPartialResponse(headers, this.#range, this.#init.manifest.size)
      if (problem !== undefined) {
        this.#fail(new OriginError(`${url}: ${problem}`, false))
        return
      }
      this.#state = 'body'
      this.#bodyAccepted = true
      this.#watch.start(true)
      this.#head.resolve({ kind: 'body' })
      return
    }
    if (REDIRECT_STATUSES.has(status)) {
      const location = headers.location
      if (typeof location !== 'string' || location === '') {
        this.#fail(new OriginError(`${url}: HTTP ${status} without a usable Location`, false))
        return
      }
      this.#discard(headers)
      this.#head.resolve({ kind: 'redirect', status, location })
      return
    }
    if (status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(headers['retry-after'], this.#init.retryAfterCapMs)
      this.#reject(new OriginError(`${url}: HTTP ${status}`, true, retryAfterMs))
      this.#discard(headers)
      return
    }
    // A 200 is the whole file: never read it (it may be huge), just hang up.
    const why = status === 200 ? 'origin ignored the Range request (HTTP 200 instead of 206)' : `HTTP ${status}`
    this.#fail(new OriginError(`${url}: ${why}`, false))
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#state === 'body') {
      const room = this.#expected - this.#received
      if (chunk.length <= room) {
        this.#accept(chunk)
        return
      }
      // Keep what lies inside the range (those pieces stand), then hang up: never read past it.
      if (room > 0) this.#accept(chunk.subarray(0, room))
      this.#fail(new OriginError(`${this.#init.url.href}: body longer than the requested ${this.#expected} bytes`, false))
    } else if (this.#state === 'discard') {
      this.#discarded += chunk.length
      this.#watch.bytes(chunk.length)
      if (this.#discarded > MAX_DISCARD_BODY_BYTES) this.#abortTransport(new AbortedError('discarded body too long'))
    }
  }

  /** The body ended as the framing (Content-Length, chunked, close) says. */
  readonly #onEnd = (): void => {
    const state = this.#state
    if (state === 'done' || state === 'headers') return
    this.#state = 'done'
    this.#release()
    if (state === 'discard') return
    if (state !== 'body' || this.#received < this.#expected) {
      this.#reject(new OriginError(
        `${this.#init.url.href}: body truncated at ${this.#received} of ${this.#expected} bytes`, true))
      return
    }
    this.#finish()
  }

  /** The response closed; without 'end' first, its connection failed mid-body. */
  readonly #onClose = (): void => {
    if (this.#state === 'done') return
    this.#onError(Object.assign(new Error('connection closed before the body ended'), { code: 'ECONNRESET' }))
  }

  readonly #onError = (err: Error): void => {
    const state = this.#state
    if (state === 'done') return
    this.#state = 'done'
    this.#release()
    this.#transport?.destroy(err)
    if (state === 'discard') return
    // Every byte is in; how the connection ended afterwards does not matter.
    if (state === 'body' && this.#received === this.#expected) {
      this.#finish()
      return
    }
    const code = (err as NodeJS.ErrnoException).code
    const retryable = code === undefined || !(code.startsWith('HPE_') || code === PRIVATE_ADDRESS_REFUSED)
    const what = code === 'HPE_UNEXPECTED_CONTENT_LENGTH' || code === 'HPE_INVALID_CONTENT_LENGTH' ? `bad Content-Length (${err.message})` : err.message
    const where = state === 'body' ? `connection failed after ${this.#received} of ${this.#expected} bytes` : 'request failed'
    this.#reject(new OriginError(`${this.#init.url.href}: ${where}: ${what}`, retryable, undefined, { cause: err }))
  }

  // ---- internals ---------------------------------------------------------

  #accept (chunk: Buffer): void {
    const n = chunk.length
    this.#received += n
    this.#watch.bytes(n)
    this.#init.onBytes(n)
    this.#consume(chunk, 0)
    // node:http's chunk and the socket read it was copied from are garbage now (util/gc-nudge.ts)
    if (this.#nudge) sharedGcNudge().bytes(n)
  }

  /** Copy `chunk[off..]` into piece buffers; hand over or park each completed piece. */
  #consume (chunk: Buffer, off: number): void {
    const len = chunk.length
    while (off < len) {
      let piece = this.#piece
      if (piece === undefined) {
        // a buffer of its own, unzeroed (every byte is overwritten before the piece
        // leaves), reused from the piece pool: the store gives it back once written
        piece = this.#piece = sharedBufferPool().take(pieceLength(this.#init.manifest, this.#nextIndex))
        this.#fill = 0
      }
      const n = Math.min(piece.length - this.#fill, len - off)
      chunk.copy(piece, this.#fill, off, off + n)
      this.#fill += n
      off += n
      if (this.#fill < piece.length) continue

      this.#piece = undefined
      const done: PieceData = { index: this.#nextIndex++, bytes: piece, owned: true }
      const waiter = this.#waiter
      if (waiter !== undefined) {
        this.#waiter = undefined
        waiter.resolve(done)
        continue
      }
      this.#ready = done
      if (off < len || this.#received < this.#expected) {
        // The consumer is behind: hold the rest until it takes this piece
        // (a copy: the chunk is only lent to us for the duration of the event).
        if (off < len) {
          this.#leftover = Buffer.from(chunk.subarray(off))
          this.#leftoverOff = 0
        }
        this.#paused = true
        this.#watch.stop()
        this.#transport?.pause()
        return
      }
    }
  }

  /** The consumer took the parked piece: continue with the held chunk, then the socket. */
  #resume (): void {
    if (!this.#paused) return
    this.#paused = false
    const leftover = this.#leftover
    if (leftover !== undefined) {
      this.#leftover = undefined
      this.#consume(leftover, this.#leftoverOff)
      if (this.#paused) return
    }
    if (this.#state === 'body') {
      this.#watch.start(true)
      this.#transport?.resume()
    }
  }

  #finish (): void {
    this.#complete = true
    const waiter = this.#waiter
    if (waiter !== undefined && this.#ready === undefined) {
      this.#waiter = undefined
      waiter.resolve(null)
    }
  }

  /** Drain a small body of known length to keep the connection; otherwise hang up. */
  #discard (headers: Headers): void {
    const cl = headers['content-length']
    const len = typeof cl === 'string' && /^\d{1,16}$/.test(cl.trim()) ? Number(cl.trim()) : Infinity
    if (len <= MAX_DISCARD_BODY_BYTES) {
      this.#state = 'discard'
      this.#watch.start(false)
      this.#transport?.resume()
    } else {
      this.#abortTransport(new AbortedError('not reading this body'))
    }
  }

  /** Report `err` to the consumer (first error wins). */
  #reject (err: Error): void {
    this.#error ??= err
    this.#head.reject(this.#error)
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      waiter.reject(this.#error)
    }
  }

  #abortTransport (err: Error): void {
    if (this.#state === 'done') return
    this.#state = 'done'
    this.#release()
    // a request still queued for a connection is dropped from the queue too
    this.#transport?.destroy(err)
  }

  #fail (err: Error): void {
    this.#reject(err)
    this.#abortTransport(err)
  }

  #release (): void {
    this.#watch.stop()
    this.#init.signal.removeEventListener('abort', this.#onAbort)
  }

  readonly #onAbort = (): void => {
    // Nothing more is delivered after an abort; drop what we hold.
    this.#ready = undefined
    this.#piece = undefined
    this.#leftover = undefined
    this.#fail(new AbortedError())
  }

  readonly #onStall = (reason: string, kind: StallKind): void => {
    if (this.#state === 'discard') {
      this.#abortTransport(new AbortedError(reason))
    } else if (this.#state === 'body' && this.#received === this.#expected) {
      // Every byte is in but the response never ends (e.g. no final chunk): hang up, keep the pieces.
      this.#abortTransport(new AbortedError(reason))
      this.#finish()
    } else {
      this.#stalled = kind
      this.#fail(new OriginError(`${this.#init.url.href}: ${reason}`, true))
    }
  }
}

function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}
