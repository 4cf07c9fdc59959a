/**
 * The download scheduler: one owner of a download's state. It asks sources
 * for pieces (peers: rarest first; HTTP: coalesced runs), pushes every piece
 * through the store's choke point, strikes sources whose pieces fail the hash,
 * re-queues what failed, and fails in bounded time with PIECE_UNAVAILABLE when
 * no usable source is left for a missing piece.
 *
 * State changes happen in synchronous sections; tasks report back and wake the
 * loop, which is the only place that starts new work.
 */
import { AbortedError, DoswarmError, PieceUnavailableError, ProtocolError, SourceBusyError } from '../errors.js'
import { pieceCount, pieceLength, type Manifest } from '../manifest/types.js'
import type { PieceSource } from '../source/index.js'
import { addCutStats, emptyCutStats, type HttpCutStats } from '../origin/cut.js'
import type { Bitfield } from '../util/bitfield.js'
import { SourceHealth, type SourceHealthInit } from './health.js'
import { PiecePicker } from './picker.js'

/** Largest coalesced HTTP range. @default 16 MiB */
export const DEFAULT_MAX_RANGE_BYTES = 16 * 1024 * 1024
/** Concurrent fetches on an HTTP source that does not say. @default 4 */
export const DEFAULT_HTTP_CONCURRENCY = 4
/** Concurrent requests on a peer that does not say. @default 4 */
export const DEFAULT_PEER_CONCURRENCY = 4
/**
 * Endgame (asking a second source for a piece already requested) starts only
 * when every missing piece is in flight and at most this many are missing;
 * with deep pipelines, "all in flight" alone would duplicate most of a small file.
 * @default 8
 */
export const ENDGAME_MAX_MISSING = 8
/**
 * Bytes of received pieces the store may hold in memory at once (being
 * hashed or written), over the whole download. A source's slot frees as soon
 * as its piece is handed to the store, and a piece stops counting once its
 * bytes are written — pieces written and waiting for their group commit's
 * fdatasync hold no memory, so a slow sync does not stall the sources; this
 * bounds the memory they may hold meanwhile. @default 16 MiB
 */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024
/**
 * A peer retired after failed requests in a row (timeouts: a busy host) is
 * asked again after this long, doubled for each retirement. @default 20000
 */
export const DEFAULT_PEER_COOLDOWN_MS = 20_000

/** What the scheduler needs of the store (see src/store). */
export interface StoreLike {
  readonly manifest: Manifest
  readonly have: Bitfield
  readonly complete: boolean
  /** see PieceStore.put and its PutOptions */
  put: (index: number, bytes: Uint8Array, signal?: AbortSignal, opts?: { onWritten?: () => void, adopt?: boolean }) => Promise<{ ok: true, duplicate: boolean } | { ok: false, reason: 'length' | 'hash' }>
}

/**
 * Swarm policy hooks. The standalone HTTP download uses none of them; the swarm
 * uses them to hold HTTP back while peers may deliver (http-delay, claims).
 */
export interface DownloadPolicy {
  /** May piece `index` be fetched from HTTP now? @default always */
  mayUseHttp?: (index: number) => boolean
  /** Pieces about to be fetched from HTTP (announce a claim). */
  onHttpFetch?: (indices: number[]) => void
  /** Pieces of an HTTP fetch that ended without delivering them (withdraw the claim). */
  onHttpRelease?: (indices: number[]) => void
  /** Cap on concurrent HTTP fetches right now (a young swarm view asks for one). @default none */
  maxHttpConcurrency?: () => number | undefined
  /** Cap on pieces per HTTP request right now. @default none */
  maxHttpRun?: () => number | undefined
  /** Is the swarm still expecting a source for the pieces nobody can serve now? */
  waiting?: () => boolean
  /** No other node downloads this content now: ask peers for pieces in file order (PickContext.inOrder). @default false */
  inOrder?: () => boolean
}

export interface SourceStats { id: string, kind: string, bytes: number, pieces: number, rejected: number, banned: boolean }

export interface DownloadStats {
  contentId: string
  size: number
  bytesFromHttp: number
  bytesFromPeers: number
  piecesRejected: number
  peersBanned: number
  /** pieces already verified in the cache when the download started */
  piecesReused: number
  /** HTTP requests cut before delivering their whole range, by why, with the bytes thrown away and never read (src/origin/cut.ts) */
  httpCut: HttpCutStats
  /** bytes of whole pieces the origin delivered that the store already held (they came from a peer first) */
  httpBytesDuplicate: number
  durationMs: number
  sources: SourceStats[]
}

export interface DownloadProgress {
  have: number
  pieces: number
  bytesDone: number
  size: number
  bytesFromHttp: number
  bytesFromPeers: number
  piecesRejected: number
  sources: number
  /** as in {@link DownloadStats} */
  httpCut: HttpCutStats
  httpBytesDuplicate: number
}

export interface DownloaderInit {
  store: StoreLike
  sources?: PieceSource[]
  policy?: DownloadPolicy
  health?: SourceHealthInit
  /** @default DEFAULT_MAX_RANGE_BYTES */
  maxRangeBytes?: number
  /** @default DEFAULT_MAX_PENDING_BYTES (at least 4 pieces) */
  maxPendingBytes?: number
  /** @default DEFAULT_PEER_COOLDOWN_MS */
  peerCooldownMs?: number
  random?: () => number
  /**
   * Pick from piece 0 upwards instead of from a random start. For a download
   * with no peers (HTTP only) there is no one to spread over, and in-order
   * pieces let the store's running file hash keep pace with the download.
   * @default false
   */
  sequential?: boolean
  onProgress?: (p: DownloadProgress) => void
  /** A source was banned, for bad pieces or a protocol violation, with the reason (the swarm disconnects it). */
  onBan?: (source: PieceSource, reason: string) => void
  /** How often the loop re-checks policy while it waits. @default 200 */
  pollMs?: number
  /** Bandwidth cap: every received piece is charged here before its source is asked for more. */
  limiter?: { consume: (bytes: number, signal?: AbortSignal) => Promise<void> }
}

interface Task { source: PieceSource, pieces: Set<number>, abort: AbortController, settled?: Promise<void> }
/** A piece handed to the store: counted against the memory budget until written, in flight until durable. */
interface PendingPut { bytes: number, done: Promise<void>, written: Promise<void> }

export class Downloader {
  readonly #store: StoreLike
  readonly #manifest: Manifest
  readonly #sources = new Map<string, PieceSource>()
  readonly #health: SourceHealth
  readonly #picker: PiecePicker
  readonly #policy: DownloadPolicy
  readonly #init: DownloaderInit
  readonly #inflight = new Map<number, number>()
  /** source id → pieces its running tasks hold (a piece is never in two tasks of one source) */
  readonly #asked = new Map<string, Set<number>>()
  readonly #tasks = new Set<Task>()
  /** pieces handed to the store, not yet durable (they stay in flight for the picker) */
  readonly #puts = new Set<PendingPut>()
  /** puts whose bytes the store still holds in memory, and their total */
  readonly #unwritten = new Set<PendingPut>()
  #putBytes = 0
  readonly #stats = new Map<string, SourceStats>()
  #wake: (() => void) | undefined
  #pollTimer: NodeJS.Timeout | undefined
  #fatal: DoswarmError | undefined
  #bytesFromHttp = 0
  #bytesFromPeers = 0
  #piecesRejected = 0
  #peersBanned = 0
  #httpBytesDuplicate = 0
  /** each HTTP source's cut counters when it was added: stats count from there */
  readonly #cutBase = new Map<string, HttpCutStats>()
  readonly #reused: number

  constructor (init: DownloaderInit) {
    this.#init = init
    this.#store = init.store
    this.#manifest = init.store.manifest
    this.#health = new SourceHealth(init.health)
    this.#picker = new PiecePicker(pieceCount(this.#manifest), init.sequential === true ? () => 0 : init.random)
    this.#policy = init.policy ?? {}
    this.#reused = init.store.have.count
    for (const s of init.sources ?? []) this.addSource(s)
  }

  /** The picker, so the swarm can feed it peer availability. */
  get picker (): PiecePicker { return this.#picker }
  get health (): SourceHealth { return this.#health }

  /** Pieces an HTTP fetch is working on right now. */
  httpInFlight (): Set<number> {
    const out = new Set<number>()
    for (const t of this.#tasks) if (t.source.kind === 'http') for (const i of t.pieces) out.add(i)
    return out
  }

  /** True while some HTTP origin may still be asked (not retired or banned). */
  httpUsable (): boolean {
    for (const s of this.#sources.values()) if (s.kind === 'http' && this.#health.usable(s.id)) return true
    return false
  }

  addSource (source: PieceSource): void {
    this.#sources.set(source.id, source)
    const cut = source.stats?.cut
    if (cut !== undefined && !this.#cutBase.has(source.id)) {
      const base = emptyCutStats()
      addCutStats(base, cut)
      this.#cutBase.set(source.id, base)
    }
    // a peer that linked again starts afresh (a retirement for timeouts ends; bans and bad pieces stay)
    if (source.kind === 'peer') this.#health.revive(source.id)
    if (!this.#stats.has(source.id)) this.#stats.set(source.id, { id: source.id, kind: source.kind, bytes: 0, pieces: 0, rejected: 0, banned: false })
    this.#poke()
  }

  removeSource (id: string): void {
    this.#sources.delete(id)
    for (const t of this.#tasks) if (t.source.id === id) t.abort.abort(new AbortedError('source removed', 'ended'))
    this.#poke()
  }

  /**
   * Ban a source for breaking the protocol (malformed messages, lies about
   * what it holds). Counted in peersBanned like a ban for bad pieces.
   */
  banSource (id: string, reason: string): void {
    const source = this.#sources.get(id)
    if (!this.#health.ban(id, reason)) return
    const st = this.#stats.get(id)
    if (st !== undefined) st.banned = true
    if (source?.kind !== 'http') this.#peersBanned++
    for (const t of this.#tasks) if (t.source.id === id) t.abort.abort(new AbortedError('source banned', 'source-unusable'))
    if (source !== undefined) this.#init.onBan?.(source, reason)
    this.#poke()
  }

  /**
   * Stop HTTP fetches that include any of these pieces (another node fetches
   * them). Pieces already received stand; the rest return to the pool.
   */
  abortHttp (indices: readonly number[]): void {
    for (const t of this.#tasks) {
      if (t.source.kind === 'http' && indices.some(i => t.pieces.has(i))) t.abort.abort(new AbortedError('another node fetches these pieces', 'claim-clash'))
    }
  }

  /** Wake the loop: something changed (a peer announced a piece, a claim expired…). */
  poke (): void { this.#poke() }

  #poke (): void { const w = this.#wake; this.#wake = undefined; w?.() }

  /** Run until every piece is durable in the store; resolves with the stats. */
  async run (signal?: AbortSignal): Promise<DownloadStats> {
    const started = performance.now()
    const onAbort = (): void => { this.#poke() }
    signal?.addEventListener('abort', onAbort)
    try {
      while (!this.#store.complete) {
        if (signal?.aborted === true) throw new AbortedError()
        if (this.#fatal !== undefined) throw this.#fatal
        const backingOff = this.#fill(signal)
        if (this.#tasks.size === 0 && this.#puts.size === 0 && !this.#store.complete) {
          if (this.#policy.waiting?.() !== true && !backingOff) throw this.#unavailable()
        }
        await new Promise<void>(resolve => {
          this.#wake = resolve
          // one poll timer at a time: a timer per pass would let every other
          // wake-up (a HAVE, a piece) leave one more timer polling forever
          if ((this.#tasks.size === 0 || this.#policy.waiting !== undefined) && this.#pollTimer === undefined) {
            this.#pollTimer = setTimeout(() => { this.#pollTimer = undefined; this.#poke() }, this.#init.pollMs ?? 200)
            this.#pollTimer.unref?.()
          }
        })
      }
      return this.stats(performance.now() - started)
    } finally {
      signal?.removeEventListener('abort', onAbort)
      clearTimeout(this.#pollTimer)
      this.#pollTimer = undefined
      const tasks = [...this.#tasks]
      for (const t of tasks) t.abort.abort(new AbortedError('download ended', 'ended'))
      // pieces already received finish their store commit, so the stats count them
      await Promise.allSettled(tasks.map(async t => { await t.settled }))
      await Promise.allSettled([...this.#puts].map(async p => { await p.done }))
    }
  }

  stats (durationMs = 0): DownloadStats {
    return {
      contentId: this.#manifest.contentId,
      size: this.#manifest.size,
      bytesFromHttp: this.#bytesFromHttp,
      bytesFromPeers: this.#bytesFromPeers,
      piecesRejected: this.#piecesRejected,
      peersBanned: this.#peersBanned,
      piecesReused: this.#reused,
      httpCut: this.#httpCut(),
      httpBytesDuplicate: this.#httpBytesDuplicate,
      durationMs: Math.round(durationMs),
      sources: [...this.#stats.values()].map(s => ({ ...s }))
    }
  }

  progress (): DownloadProgress {
    const have = this.#store.have
    let bytesDone = have.count * this.#manifest.pieceSize
    if (have.get(have.length - 1)) bytesDone -= this.#manifest.pieceSize - pieceLength(this.#manifest, have.length - 1)
    return {
      have: have.count,
      pieces: have.length,
      bytesDone,
      size: this.#manifest.size,
      bytesFromHttp: this.#bytesFromHttp,
      bytesFromPeers: this.#bytesFromPeers,
      piecesRejected: this.#piecesRejected,
      sources: [...this.#sources.keys()].filter(id => this.#health.usable(id)).length,
      httpCut: this.#httpCut(),
      httpBytesDuplicate: this.#httpBytesDuplicate
    }
  }

  /** Cut counters of the HTTP sources since they were added to this download. */
  #httpCut (): HttpCutStats {
    const out = emptyCutStats()
    for (const [id, base] of this.#cutBase) {
      const now = this.#sources.get(id)?.stats?.cut
      if (now === undefined) continue
      addCutStats(out, now)
      addCutStats(out, base, -1)
    }
    return out
  }

  #unavailable (): PieceUnavailableError {
    const have = this.#store.have
    const missing = have.missing()
    const first = missing[0] ?? 0
    const reasons = [...this.#sources.values()].map(s => {
      const why = this.#health.isBanned(s.id) ? 'banned for bad pieces' : (this.#health.lastError(s.id) ?? (this.#health.mayAsk(s.id, first) ? 'cannot serve it' : 'sent a bad copy'))
      return `${s.id}: ${why}`
    })
    return new PieceUnavailableError(first, `no source can deliver a verified copy of piece ${first} (${missing.length} pieces missing)` +
      (reasons.length > 0 ? `; ${reasons.join('; ')}` : '; no sources'))
  }

  /**
   * Start what the sources can take. Returns true if a usable source was
   * skipped because it asked us to come back shortly (BUSY): the loop then
   * waits for it rather than give up. (Decided here, with the same clock
   * reading as the skip: a second reading could see the back-off just ended
   * and no task started for it.)
   */
  #fill (signal?: AbortSignal): boolean {
    let backingOff = false
    const have = this.#store.have
    const maxRun = Math.max(1, Math.floor((this.#init.maxRangeBytes ?? DEFAULT_MAX_RANGE_BYTES) / this.#manifest.pieceSize))
    // peers first: the origin is the source of last resort
    const ordered = [...this.#sources.values()].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'peer' ? -1 : 1))
    const now = performance.now()
    const inOrder = this.#policy.inOrder?.() === true
    for (const source of ordered) {
      if (!this.#health.usable(source.id)) continue
      if ((source.busyUntil ?? 0) > now) { backingOff = true; continue }
      let limit = source.maxConcurrent ?? (source.kind === 'http' ? DEFAULT_HTTP_CONCURRENCY : DEFAULT_PEER_CONCURRENCY)
      if (source.kind === 'http') limit = Math.min(limit, this.#policy.maxHttpConcurrency?.() ?? Infinity)
      let running = 0
      for (const t of this.#tasks) if (t.source === source) running++
      // usable was checked above; what is left of mayAsk is the pieces it sent bad copies of
      const bad = this.#health.badPieces(source.id)
      const mayUseHttp = source.kind === 'http' ? this.#policy.mayUseHttp : undefined
      while (running < limit) {
        const asked = this.#asked.get(source.id)
        const ctx = {
          endgame: have.length - have.count <= ENDGAME_MAX_MISSING && this.#inflight.size >= have.length - have.count,
          inOrder,
          have: (i: number) => have.get(i),
          inflight: (i: number) => this.#inflight.get(i) ?? 0,
          eligible: (i: number) => source.has(i) && !bad.has(i) && asked?.has(i) !== true &&
            (mayUseHttp === undefined || mayUseHttp(i))
        }
        let run: { first: number, count: number } | undefined
        if (source.kind === 'http') {
          run = this.#picker.pickRun(ctx, Math.max(1, Math.min(maxRun, this.#policy.maxHttpRun?.() ?? maxRun)))
        } else {
          const i = this.#picker.pickRarest(ctx)
          if (i !== undefined) run = { first: i, count: 1 }
        }
        if (run === undefined) break
        this.#start(source, run.first, run.count, signal)
        running++
      }
    }
    return backingOff
  }

  /** A peer retired for failures (timeouts on a busy host) is asked again after a cool-down; the origin is not. */
  #cooldown (source: PieceSource): number | undefined {
    return source.kind === 'peer' ? (this.#init.peerCooldownMs ?? DEFAULT_PEER_COOLDOWN_MS) : undefined
  }

  #start (source: PieceSource, first: number, count: number, signal?: AbortSignal): void {
    const abort = new AbortController()
    const task: Task = { source, pieces: new Set(), abort }
    let asked = this.#asked.get(source.id)
    if (asked === undefined) { asked = new Set(); this.#asked.set(source.id, asked) }
    for (let i = first; i < first + count; i++) {
      task.pieces.add(i)
      asked.add(i)
      this.#inflight.set(i, (this.#inflight.get(i) ?? 0) + 1)
    }
    this.#tasks.add(task)
    if (source.kind === 'http') this.#policy.onHttpFetch?.([...task.pieces])
    const taskSignal = signal === undefined ? abort.signal : AbortSignal.any([signal, abort.signal])
    task.settled = this.#runTask(task, first, count, taskSignal)
  }

  #release (task: Task, i: number): void {
    if (!task.pieces.delete(i)) return
    this.#asked.get(task.source.id)?.delete(i)
    const n = (this.#inflight.get(i) ?? 1) - 1
    if (n <= 0) this.#inflight.delete(i); else this.#inflight.set(i, n)
  }

  async #runTask (task: Task, first: number, count: number, signal: AbortSignal): Promise<void> {
    const { source } = task
    const maxPending = Math.max(this.#init.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES, 4 * this.#manifest.pieceSize)
    /** pieces handed to the store: their own put releases them */
    const handed = new Set<number>()
    let expected = first
    try {
      for await (const { index, bytes, owned } of source.fetch(first, count, signal)) {
        if (index !== expected || index >= first + count) throw new ProtocolError(`${source.id} sent piece ${index}, expected ${expected}`)
        expected++
        handed.add(index)
        const length = bytes.length // an owned buffer may be detached by the store (moved to a hash worker) once handed over
        this.#hand(task, index, bytes, owned === true)
        while (this.#putBytes > maxPending && this.#unwritten.size > 0) await Promise.race([...this.#unwritten].map(p => p.written))
        if (this.#init.limiter !== undefined) await this.#init.limiter.consume(length, signal)
        if (!this.#health.usable(source.id)) {
          task.abort.abort(new AbortedError('source no longer usable', 'source-unusable'))
          break
        }
      }
      if (expected < first + count && !signal.aborted && this.#health.usable(source.id)) {
        this.#health.failure(source.id, `ended after ${expected - first} of ${count} pieces`, false, this.#cooldown(source))
      }
    } catch (err) {
      if (err instanceof SourceBusyError) {
        // refused for now, not failed: the pieces go back to the pool for another holder
      } else if (!signal.aborted && this.#fatal === undefined) {
        const fatal = err instanceof DoswarmError && err.code === 'ORIGIN_FAILED' && (err as { retryable?: boolean }).retryable === false
        this.#health.failure(source.id, (err as Error)?.message ?? String(err), fatal, this.#cooldown(source))
      }
    } finally {
      const left = [...task.pieces].filter(i => !handed.has(i) && !this.#store.have.get(i))
      if (source.kind === 'http' && left.length > 0) this.#policy.onHttpRelease?.(left)
      for (const i of [...task.pieces]) if (!handed.has(i)) this.#release(task, i)
      this.#tasks.delete(task)
      this.#poke()
    }
  }

  /**
   * Hand a received piece to the store. Its bytes count against the memory
   * budget until the store has written them; the piece stays in flight until
   * the put settles (durable, or refused).
   */
  #hand (task: Task, index: number, bytes: Uint8Array, owned: boolean): void {
    let markWritten!: () => void
    const written = new Promise<void>(resolve => { markWritten = resolve })
    const put: PendingPut = { bytes: bytes.length, done: Promise.resolve(), written }
    this.#putBytes += put.bytes
    this.#unwritten.add(put)
    const onWritten = (): void => {
      if (!this.#unwritten.delete(put)) return
      this.#putBytes -= put.bytes
      markWritten()
    }
    put.done = this.#accept(task, index, bytes, owned, onWritten)
      .catch(() => {}) // failures are recorded by #accept (fatal store errors end the run)
      .finally(() => {
        onWritten()
        this.#puts.delete(put)
        this.#release(task, index)
        this.#poke()
      })
    this.#puts.add(put)
  }

  async #accept (task: Task, index: number, bytes: Uint8Array, owned: boolean, onWritten: () => void): Promise<void> {
    const { source } = task
    const length = bytes.length // the store may take (detach) the buffer
    if (this.#store.have.get(index)) {
      if (source.kind === 'http') this.#httpBytesDuplicate += length
      return
    }
    let result
    try {
      // no signal: a verified piece is worth keeping even if its fetch was cancelled meanwhile
      // a buffer the source does not keep (PieceData.owned) is taken by the store without a copy
      result = await this.#store.put(index, bytes, undefined, { onWritten, adopt: owned })
    } catch (err) {
      if (err instanceof DoswarmError && (err.code === 'DISK_FULL' || err.code === 'STORE_IO')) this.#fatal ??= err
      throw err
    }
    const st = this.#stats.get(source.id)
    if (result.ok) {
      this.#health.success(source.id)
      if (result.duplicate) {
        if (source.kind === 'http') this.#httpBytesDuplicate += length
        return
      }
      const n = length
      if (source.kind === 'http') this.#bytesFromHttp += n; else this.#bytesFromPeers += n
      if (st !== undefined) { st.bytes += n; st.pieces++ }
      // endgame: other requests for this piece are now pointless
      for (const t of this.#tasks) if (t !== task && t.pieces.has(index) && t.source.kind === 'peer' && t.pieces.size === 1) t.abort.abort(new AbortedError('piece arrived elsewhere'))
      this.#init.onProgress?.(this.progress())
      return
    }
    // bad pieces that were already on their way when the source was banned
    // are dropped uncounted: a bad source is charged at most banThreshold (THREATS T1)
    if (this.#health.isBanned(source.id)) return
    this.#piecesRejected++
    if (st !== undefined) st.rejected++
    if (this.#health.badPiece(source.id, index)) {
      if (st !== undefined) st.banned = true
      if (source.kind === 'peer') this.#peersBanned++
      for (const t of this.#tasks) if (t.source === source) t.abort.abort(new AbortedError('source banned', 'source-unusable'))
      this.#init.onBan?.(source, `sent ${this.#health.badPieceCount(source.id)} pieces that failed their hash`)
    }
  }
}
