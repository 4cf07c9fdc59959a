/**
 * Fair uploads: at most `maxConcurrent` pieces are read and sent at once,
 * node-wide, and free slots go round-robin over the peers that are waiting,
 * so one greedy peer cannot starve the others (THREATS R7). Each peer's queue
 * is bounded by the protocol's outstanding-request limit; the caller enforces
 * that bound and strikes peers that exceed it.
 *
 * Within one peer's queue the job with the lowest rank goes first (the
 * session ranks a piece by how often this node has already started sending
 * it): a node that alone holds a few pieces every peer wants sends each of
 * them once before it sends any twice, and the peers it fed pass them on.
 * Served in arrival order instead, every peer's first request — often the
 * same piece — went first, and the holder fed the LAN one piece at a time.
 * A job that has waited {@link RANK_MAX_WAIT_MS} goes first whatever its rank,
 * so a peer's request is never postponed until it times out.
 */
/** Pieces uploaded at once, node-wide. @default 8 */
export const DEFAULT_MAX_CONCURRENT_UPLOADS = 8
/**
 * A queued job waiting this long is served before better-ranked ones of the
 * same peer. Below the 15 s request deadline with room for the peer's turn
 * in the round robin. In the simulator (20 nodes, 256 MiB) 2 s kept almost
 * none of the gain of ranking, 8 s most of it. @default 8000
 */
export const RANK_MAX_WAIT_MS = 8000

/** An upload. */
export type UploadJob = () => Promise<number | undefined | void>

interface Queued { job: UploadJob, at: number, rank: (() => number) | undefined }

/** Rate samples taken before the measured rate is trusted for {@link UploadScheduler.expectedWaitMs}. */
const RATE_MIN_SAMPLES = 3
/** Weight of the newest sample in the upload-rate average. */
const RATE_ALPHA = 0.2
/**
 * One rate sample is the bytes of the uploads that finished over at least
 * this long, divided by it. (Each completion's bytes over the gap since the
 * one before was no measure: up to 8 uploads share the link and finish
 * microseconds apart, and the average read 30 MB/s to 52 GB/s on a 5 MB/s
 * uplink, so a queue of 18 s looked empty and nobody was told BUSY;
 * docs/benchmarks.md, 3 Dec.)
 */
const RATE_INTERVAL_MS = 500
/** Completions further apart than this start a new measurement (the node was idle in between). */
const RATE_MAX_GAP_MS = 2000

export class UploadScheduler {
  readonly maxConcurrent: number
  readonly #queues = new Map<string, Queued[]>()
  readonly #cost = new WeakMap<UploadJob, number>()
  readonly #now: () => number
  /** bytes of the jobs waiting (not running) */
  #queuedBytes = 0
  /** bytes/ms sent while busy, averaged; undefined until measured */
  #rate: number | undefined
  #samples = 0
  #lastDone = -Infinity
  /** the measurement under way: since when, and the bytes finished in it */
  #spanStart = -Infinity
  #spanBytes = 0
  /** round-robin order of peers with queued jobs */
  readonly #order: string[] = []
  #running = 0

  readonly #limiter: { consume: (bytes: number) => Promise<void> } | undefined

  /**
   * @param limiter upload bandwidth cap: a job's bytes are paid for before it
   * runs (its slot is held meanwhile), so even the first uploads respect it.
   */
  constructor (maxConcurrent = DEFAULT_MAX_CONCURRENT_UPLOADS, limiter?: { consume: (bytes: number) => Promise<void> }, now: () => number = () => performance.now()) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError('maxConcurrent must be an integer ≥ 1')
    this.maxConcurrent = maxConcurrent
    this.#limiter = limiter
    this.#now = now
  }

  /**
   * How long a job queued now would wait before it runs, from the bytes
   * queued and the rate at which this node has been sending them (0 until
   * enough uploads were measured). A peer that would wait longer than it
   * waits for an answer is better told BUSY at once (THREATS R7 still holds:
   * the refusal is per request, the round robin is unchanged).
   */
  expectedWaitMs (): number {
    if (this.#rate === undefined || this.#samples < RATE_MIN_SAMPLES || this.#rate <= 0) return 0
    return this.#queuedBytes / this.#rate
  }

  /** Record a finished upload of `bytes` (for the rate behind {@link expectedWaitMs}). */
  #done (bytes: number): void {
    const now = this.#now()
    // after an idle spell this upload's own start is unknown: measure afresh from here
    if (now - this.#lastDone > RATE_MAX_GAP_MS) { this.#spanStart = now; this.#spanBytes = 0 } else this.#spanBytes += Math.max(0, bytes)
    this.#lastDone = now
    const span = now - this.#spanStart
    if (span < RATE_INTERVAL_MS) return
    const sample = this.#spanBytes / span
    this.#rate = this.#rate === undefined ? sample : this.#rate + RATE_ALPHA * (sample - this.#rate)
    this.#samples++
    this.#spanStart = now
    this.#spanBytes = 0
  }

  /** Jobs waiting (not yet running) for `peer`. */
  queued (peer: string): number { return this.#queues.get(peer)?.length ?? 0 }
  get running (): number { return this.#running }

  /**
   * Queue `job` for `peer`; `bytes` is what it will send (charged to the
   * upload cap before it runs). `rank`, asked when a slot frees: among this
   * peer's queued jobs the lowest goes first (ties and unranked jobs in
   * arrival order).
   */
  enqueue (peer: string, job: UploadJob, bytes = 0, rank?: () => number): void {
    if (bytes > 0) { this.#cost.set(job, bytes); this.#queuedBytes += bytes }
    let q = this.#queues.get(peer)
    if (q === undefined) { q = []; this.#queues.set(peer, q); this.#order.push(peer) }
    q.push({ job, at: this.#now(), rank })
    this.#pump()
  }

  /** Drop everything queued for `peer` (it left, cancelled or was banned). */
  drop (peer: string): void {
    const q = this.#queues.get(peer)
    if (q === undefined) return
    for (const { job } of q) this.#queuedBytes -= this.#cost.get(job) ?? 0
    this.#queues.delete(peer)
    const i = this.#order.indexOf(peer)
    if (i >= 0) this.#order.splice(i, 1)
  }

  /** Remove one queued job (a CANCEL); true if it was still queued. */
  remove (peer: string, job: UploadJob): boolean {
    const q = this.#queues.get(peer)
    const i = q?.findIndex(e => e.job === job) ?? -1
    if (q === undefined || i < 0) return false
    q.splice(i, 1)
    this.#queuedBytes -= this.#cost.get(job) ?? 0
    if (q.length === 0) this.drop(peer)
    return true
  }

  /** Start queued jobs while slots are free: peers take turns; within a peer's queue, {@link nextInQueue} chooses. */
  #pump (): void {
    while (this.#running < this.maxConcurrent && this.#order.length > 0) {
      const peer = this.#order.shift() as string
      const q = this.#queues.get(peer) as Queued[]
      const { job } = q.splice(nextInQueue(q, this.#now(), e => e.at, e => e.rank?.() ?? 0), 1)[0]
      if (q.length === 0) this.#queues.delete(peer); else this.#order.push(peer)
      this.#running++
      const limiter = this.#limiter
      const cost = this.#cost.get(job) ?? 0
      this.#queuedBytes -= cost
      void (async () => {
        if (limiter !== undefined && cost > 0) await limiter.consume(cost)
        const sent = await job()
        this.#done(typeof sent === 'number' ? sent : 0)
      })()
        .catch(() => {})
        .finally(() => { this.#running--; this.#pump() })
    }
  }
}

/**
 * Which of one peer's queued jobs (oldest first) runs next: the lowest rank,
 * ties in arrival order — or the oldest, once it has waited
 * {@link RANK_MAX_WAIT_MS}. Pure, so the simulator (bench/sim) uses it too.
 */
export function nextInQueue<T> (q: readonly T[], now: number, at: (e: T) => number, rank: (e: T) => number): number {
  if (q.length <= 1 || now - at(q[0] as T) >= RANK_MAX_WAIT_MS) return 0
  let best = 0
  let bestRank = rank(q[0] as T)
  for (let k = 1; k < q.length; k++) {
    const r = rank(q[k] as T)
    if (r < bestRank) { best = k; bestRank = r }
  }
  return best
}
