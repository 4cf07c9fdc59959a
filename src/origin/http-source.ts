/**
 * {@link HttpSource}: the HTTP origin as a {@link PieceSource}. It turns a
 * `fetch(first, count)` into one Range request (following vetted redirects),
 * retries retryable failures with backoff from the first piece not yet
 * yielded, and reuses keep-alive connections: our own HTTP/1.1 client's pool
 * for http: origins (http1-client.ts), Node's `https.Agent` for https:
 * (`connections` per origin host either way).
 *
 * The source does not hash: each piece it yields has the right length and
 * index, and nothing more is promised — the store's choke point verifies.
 */
import { Agent as HttpsAgent } from 'node:https'
import type { LookupFunction } from 'node:net'
import { AbortedError, DoswarmError, OriginError, UsageError } from '../errors.js'
import { pieceCount } from '../manifest/types.js'
import type { PieceData, PieceSource } from '../source/index.js'
import { backoffDelay, sleep } from './backoff.js'
import { Http1Pool } from './http1-client.js'
import { resolveOptions, type HttpSourceInit, type HttpSourceOptions } from './options.js'
import { RangeRequest } from './range-request.js'
import { checkRedirect, guardedLookup, hostOf, type RedirectPolicy } from './redirect.js'
import { RateMeter } from './rate-meter.js'
import { emptyCutStats, isCutReason, type HttpCutReason, type HttpCutStats } from './cut.js'

/** Counters for benchmarks and the scheduler's origin accounting. */
export interface HttpSourceStats {
  /** Body bytes of accepted 206 responses (pieces, including ones cut short by a failure). */
  bytesReceived: number
  /** HTTP requests sent, redirects and retries included. */
  requests: number
  /**
   * Requests whose 206 body was cut before every byte of the range was read
   * and delivered as a piece, by why (src/origin/cut.ts). The reason of a
   * caller's abort is the `why` of the AbortedError it aborted with.
   */
  cut: HttpCutStats
}

/**
 * An HTTP(S) origin as a piece source.
 *
 * ```ts
 * const origin = new HttpSource({ url: manifest.origins[0], manifest })
 * for (const run of planRanges(missing, 16)) {
 *   for await (const piece of origin.fetch(run.first, run.count, signal)) await verifyAndStore(piece)
 * }
 * await origin.close()
 * ```
 */
export class HttpSource implements PieceSource {
  /** `http:` + the configured URL. */
  readonly id: string
  readonly kind = 'http' as const
  readonly stats: HttpSourceStats = { bytesReceived: 0, requests: 0, cut: emptyCutStats() }
  readonly #opts: HttpSourceOptions
  readonly #pieces: number
  /** keep-alive pools, created on first use: http: and https: */
  #http: Http1Pool | undefined
  #https: HttpsAgent | undefined
  readonly #lookup: LookupFunction
  readonly #redirects: RedirectPolicy
  readonly #closing = new AbortController()
  /** body bytes over all connections, for the minimum-rate rule */
  readonly #meter: RateMeter

  /** @throws {UsageError} when an option is invalid */
  constructor (init: HttpSourceInit) {
    this.#opts = resolveOptions(init)
    this.id = `http:${init.url}`
    this.#pieces = pieceCount(this.#opts.manifest)
    this.#redirects = {
      allowPrivateRedirects: this.#opts.allowPrivateRedirects,
      classifyAddress: this.#opts.classifyAddress,
      publicOnly: new Set(),
      trustedHost: hostOf(this.#opts.url)
    }
    this.#lookup = guardedLookup(this.#redirects.publicOnly, this.#opts.classifyAddress)
    this.#meter = new RateMeter(this.#opts.minRateWindowMs)
  }

  /**
   * The pool for `url`'s scheme. No timeouts of its own: our StallWatch owns
   * connect, header and body timing (it is pause-aware and enforces a minimum rate).
   */
  #poolFor (url: URL): { agent: HttpsAgent } | { http1: Http1Pool } {
    if (url.protocol === 'https:') {
      return { agent: (this.#https ??= new HttpsAgent({ keepAlive: true, maxSockets: this.#opts.connections, maxFreeSockets: this.#opts.connections })) }
    }
    return { http1: (this.#http ??= new Http1Pool({ maxSockets: this.#opts.connections, lookup: this.#lookup })) }
  }

  /** Fetches worth running at once: one per connection. */
  get maxConcurrent (): number {
    return this.#opts.connections
  }

  /** The origin serves the whole file: true for every valid piece index. */
  has (index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.#pieces
  }

  /**
   * Fetch pieces `first .. first+count-1` with one Range request, yielding
   * each piece as soon as it is complete. Retryable failures are retried up
   * to `maxRetries` times, resuming at the first piece not yet yielded.
   *
   * @throws {OriginError} when the origin fails for good (`retryable` says whether a later try may work)
   * @throws {AbortedError} when `signal` fires or the source is closed
   * @throws {UsageError} when the run is outside the file
   */
  fetch (first: number, count: number, signal: AbortSignal): AsyncIterable<PieceData> {
    return this.#fetch(first, count, signal)
  }

  /** Abort every fetch in progress and close all connections. Idempotent. */
  async close (): Promise<void> {
    if (this.#closing.signal.aborted) return
    this.#closing.abort()
    this.#http?.destroy()
    this.#https?.destroy()
  }

  async * #fetch (first: number, count: number, signal: AbortSignal): AsyncGenerator<PieceData, void, undefined> {
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 1 || first + count > this.#pieces) {
      throw new UsageError(`HttpSource.fetch: run ${first}+${count} is outside pieces 0..${this.#pieces - 1}`)
    }
    // One signal for "caller gave up" and "source closed"; plain listeners, removed in finally.
    // The caller's reason is kept: it says why a request was cut (stats.cut).
    const ac = new AbortController()
    const onAbort = (): void => ac.abort(signal.reason)
    const onClose = (): void => ac.abort(new AbortedError('http source closed', 'ended'))
    signal.addEventListener('abort', onAbort, { once: true })
    this.#closing.signal.addEventListener('abort', onClose, { once: true })
    if (signal.aborted) onAbort()
    else if (this.#closing.signal.aborted) onClose()
    try {
      if (ac.signal.aborted) throw this.#classify(new AbortedError(), ac.signal)
      const end = first + count
      let next = first
      let retries = 0
      for (;;) {
        try {
          for await (const piece of this.#exchange(next, end - next, ac.signal)) {
            next = piece.index + 1
            yield piece
          }
          if (next === end) return
          // Defensive: an exchange must deliver every piece or fail; never end a fetch short in silence.
          throw new OriginError(`${this.#opts.url.href}: response ended before piece ${next}`, true)
        } catch (err) {
          const e = this.#classify(err, ac.signal)
          if (e instanceof AbortedError) throw e
          // A retryable failure after the last piece costs nothing: everything asked for was delivered.
          if (next === end && e.retryable) return
          if (!e.retryable || retries >= this.#opts.maxRetries) throw giveUp(e, retries + 1)
          const { retryBaseMs, retryAfterCapMs, random } = this.#opts
          await sleep(e.retryAfterMs ?? backoffDelay(retries, retryBaseMs, retryAfterCapMs, random), ac.signal)
            .catch((abortErr: unknown) => { throw this.#classify(abortErr, ac.signal) })
          retries++
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      this.#closing.signal.removeEventListener('abort', onClose)
    }
  }

  /** One attempt: a request, redirects followed, then the body cut into pieces. */
  async * #exchange (first: number, count: number, signal: AbortSignal): AsyncGenerator<PieceData, void, undefined> {
    const o = this.#opts
    let url = o.url
    for (let hops = 0; ; hops++) {
      const req = new RangeRequest({
        ...this.#poolFor(url),
        lookup: this.#lookup,
        url,
        manifest: o.manifest,
        first,
        count,
        signal,
        limits: o,
        retryAfterCapMs: o.retryAfterCapMs,
        onBytes: (n) => { this.stats.bytesReceived += n; this.#meter.add(n) },
        sourceRate: (windowMs) => this.#meter.rate(windowMs),
        sharers: o.sharers
      })
      this.stats.requests++
      /** bytes of the pieces handed on; the rest of what was received is thrown away if the exchange is cut */
      let delivered = 0
      let failed = false
      try {
        const head = await req.start()
        if (head.kind === 'redirect') {
          if (hops >= o.maxRedirects) {
            throw new OriginError(`${o.url.href}: too many redirects (more than ${o.maxRedirects})`, false)
          }
          url = await checkRedirect(url, head.location, this.#redirects, signal)
          continue
        }
        for (;;) {
          const piece = await req.next()
          if (piece === null) return
          delivered += piece.bytes.length
          yield piece
        }
      } catch (err) {
        failed = true
        throw err
      } finally {
        req.close()
        this.#countCut(req, delivered, failed, signal)
      }
    }
  }

  /** Count an exchange whose body was cut (stats.cut): nothing is counted for one that delivered its whole range. */
  #countCut (req: RangeRequest, delivered: number, failed: boolean, signal: AbortSignal): void {
    if (!req.bodyAccepted) return
    const discarded = req.received - delivered
    const unread = req.expected - req.received
    if (discarded <= 0 && unread <= 0) return
    let why: HttpCutReason
    if (signal.aborted) {
      const tag = (signal.reason as { why?: unknown } | undefined)?.why
      why = isCutReason(tag) ? tag : 'ended'
    } else if (req.stalled !== undefined) {
      why = req.stalled === 'idle' ? 'stall-idle' : 'stall-rate'
    } else {
      // a consumer that stopped reading without aborting has ended the fetch
      why = failed ? 'error' : 'ended'
    }
    const c = this.stats.cut[why]
    c.requests++
    c.bytesDiscarded += Math.max(0, discarded)
    c.bytesUnread += Math.max(0, unread)
  }

  /** Map anything thrown during an attempt to the errors `fetch` promises. */
  #classify (err: unknown, signal: AbortSignal): OriginError | AbortedError {
    if (signal.aborted || err instanceof AbortedError) {
      return this.#closing.signal.aborted ? new AbortedError('http source closed') : new AbortedError()
    }
    if (err instanceof OriginError) return err
    const message = err instanceof Error ? err.message : String(err)
    const code = err instanceof DoswarmError ? ` (${err.code})` : ''
    return new OriginError(`${this.#opts.url.href}: ${message}${code}`, false, undefined, { cause: err })
  }
}

/** The final error of a fetch, saying how many attempts were made. */
function giveUp (e: OriginError, attempts: number): OriginError {
  if (attempts === 1) return e
  return new OriginError(`${e.message} (gave up after ${attempts} attempts)`, e.retryable, e.retryAfterMs, { cause: e })
}
