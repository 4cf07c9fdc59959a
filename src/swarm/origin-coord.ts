/**
 * Coordinated origin fallback: the rule that makes a LAN ask the HTTP origin
 * for each piece about once. Pure — time and peer views are passed in.
 *
 * A node may fetch piece i from HTTP only when all of these hold:
 *  1. no connected peer holds i (then it is asked of that peer instead);
 *  2. no peer holds a live CLAIM on i (a peer announced it is fetching i from
 *     HTTP; we wait for its HAVE; claims expire after their TTL, or when the
 *     claimer disconnects or RELEASEs);
 *  3. the node has settled: peers had a chance to connect and say what they
 *     hold and claim (the session decides: a short settle time after start,
 *     longer while configured static peers have not answered yet);
 *  4. this node owns i's block among the downloading nodes it knows
 *     (rendezvous hashing over node ids, blocks of `blockPieces` consecutive
 *     pieces so that owned pieces still coalesce into long Range requests) —
 *     or every node ranked above us for that block (in rendezvous order) has
 *     either been silent (sent us nothing at all) for `httpDelayMs`, or
 *     claimed nothing for `OWNER_PATIENCE` times that (it does no origin
 *     work) — so an orphaned block passes to one successor, not to everyone.
 *     A live owner keeps its blocks however slow it is; a node we only heard
 *     of keeps its turn until it links or is forgotten (its claims cannot
 *     reach us yet).
 * Before it settles, a node that was already connected to peers when the
 * download began (a daemon in a LAN that meshed long ago) need not leave the
 * origin idle: it may fetch the blocks it owns among itself and those
 * connected peers ({@link OriginCoordinator.mayFetchEarly}). That set is
 * fixed when the download starts, and both ends of a connection see it, so
 * two such nodes never both own a block — unless one never joins this
 * content, which costs nothing: its blocks wait for the settled rule.
 * Two nodes that claimed the same piece before they knew of each other
 * resolve it when the claims meet: the node with the smaller id keeps it.
 * Nodes that start together therefore split the file at the origin by blocks
 * and trade the rest.
 */
import { createHash } from 'node:crypto'

/** Pieces per ownership block (an 8 MiB range of 1 MiB pieces; small enough to spread a file over many nodes). @default 8 */
export const DEFAULT_BLOCK_PIECES = 8
/** Wait after start before any HTTP fetch while peers may still connect. @default 1000 */
export const DEFAULT_SETTLE_MS = 1000
/** Longest wait for configured static peers to answer before fetching from HTTP anyway. @default 10000 */
export const DEFAULT_MAX_SETTLE_MS = 10_000
/** Extra wait before fetching a piece another node owns but has not claimed. @default 5000 */
export const DEFAULT_HTTP_DELAY_MS = 5000
/** A candidate that claims nothing for this many HTTP delays passes its turn, however alive. @default 12 */
export const OWNER_PATIENCE = 12
/** Lifetime of a claim we announce and of claims we accept. @default 30000 */
export const DEFAULT_CLAIM_TTL_MS = 30_000

export interface OriginCoordinatorInit {
  selfId: string
  /** jitter source for take-over delays. @default Math.random */
  random?: () => number
  pieceCount: number
  blockPieces?: number
  settleMs?: number
  httpDelayMs?: number
  /** peers connected before the download began: the owners of the early phase ({@link OriginCoordinator.mayFetchEarly}) */
  earlyPeers?: readonly string[]
  now: () => number
}

export class OriginCoordinator {
  readonly selfId: string
  readonly blockPieces: number
  readonly settleMs: number
  readonly httpDelayMs: number
  readonly #now: () => number
  readonly #startedAt: number
  /**
   * This node waits httpDelayMs × (1 + jitter) before taking over a silent
   * owner's pieces, so nodes that wait together do not all take them over
   * at the same moment: the first one claims them and the others see it.
   */
  readonly #jitter: number
  #settledAt: number | undefined
  /** last time each peer showed it is alive in this swarm (any frame; CLAIM, RELEASE, HAVE included) */
  readonly #activity = new Map<string, number>()
  /** last time each peer claimed anything (it does origin work) */
  readonly #lastClaim = new Map<string, number>()
  /** piece → (peer → expiry) */
  readonly #claims = new Map<number, Map<string, number>>()
  /** downloading peers we know of (they take part in ownership) */
  readonly #downloaders = new Set<string>()
  readonly #blockCount: number
  /** block → owner among us and the downloaders; computed when first asked, dropped whenever that set changes */
  #owners: readonly string[] | undefined
  /** block → candidates, the owner first (the succession order, computed per block when first walked), dropped with #owners */
  readonly #candidateCache = new Map<number, readonly string[]>()
  /** peer → its rendezvous score for every block (they never change; hashing them again on every view change cost CPU) */
  readonly #scores = new Map<string, Float64Array>()
  /** the early phase's owners besides us (fixed at start) */
  readonly earlyPeers: readonly string[]
  /** block → owner in the early phase (computed when first asked) */
  #earlyOwners: readonly string[] | undefined

  constructor (init: OriginCoordinatorInit) {
    this.selfId = init.selfId
    this.blockPieces = init.blockPieces ?? DEFAULT_BLOCK_PIECES
    this.settleMs = init.settleMs ?? DEFAULT_SETTLE_MS
    this.httpDelayMs = init.httpDelayMs ?? DEFAULT_HTTP_DELAY_MS
    this.#now = init.now
    this.#startedAt = init.now()
    this.#jitter = (init.random ?? Math.random)()
    this.#blockCount = Math.ceil(init.pieceCount / (init.blockPieces ?? DEFAULT_BLOCK_PIECES))
    this.earlyPeers = [...new Set(init.earlyPeers ?? [])].filter(p => p !== this.selfId)
    if (!Number.isInteger(this.blockPieces) || this.blockPieces < 1) throw new RangeError('blockPieces must be ≥ 1')
    if (!(this.settleMs >= 0) || !(this.httpDelayMs >= 0)) throw new RangeError('delays must be ≥ 0')
  }

  /** A peer that still downloads this content joined (or left, with false). */
  setDownloader (peerId: string, downloading: boolean): void {
    const had = this.#downloaders.has(peerId)
    if (downloading && !had) this.#downloaders.add(peerId)
    else if (!downloading && had) this.#downloaders.delete(peerId)
    else return
    this.#owners = undefined
    this.#candidateCache.clear()
  }

  /** A peer went away: forget its claims and its share of ownership. */
  peerGone (peerId: string): void {
    this.setDownloader(peerId, false)
    this.#activity.delete(peerId)
    this.#lastClaim.delete(peerId)
    for (const [i, m] of this.#claims) { m.delete(peerId); if (m.size === 0) this.#claims.delete(i) }
  }

  /** How many other downloading nodes share the origin work. */
  get downloaders (): number { return this.#downloaders.size }

  /** A peer showed it is alive (any frame from it). */
  seen (peerId: string): void { this.#activity.set(peerId, this.#now()) }

  claim (peerId: string, indices: readonly number[], ttlMs: number): void {
    this.seen(peerId)
    this.#lastClaim.set(peerId, this.#now())
    const until = this.#now() + ttlMs
    for (const i of indices) {
      let m = this.#claims.get(i)
      if (m === undefined) { m = new Map(); this.#claims.set(i, m) }
      m.set(peerId, until)
    }
  }

  release (peerId: string, indices: readonly number[]): void {
    this.seen(peerId)
    for (const i of indices) {
      const m = this.#claims.get(i)
      m?.delete(peerId)
      if (m?.size === 0) this.#claims.delete(i)
    }
  }

  /** Peers holding an unexpired claim on any piece: the nodes fetching from the origin besides us. */
  claimants (): number {
    const now = this.#now()
    const who = new Set<string>()
    for (const m of this.#claims.values()) for (const [p, until] of m) if (until > now) who.add(p)
    return who.size
  }

  /** True when a peer holds an unexpired claim on piece i. */
  claimed (i: number): boolean {
    const m = this.#claims.get(i)
    if (m === undefined) return false
    const now = this.#now()
    for (const [p, until] of m) if (until <= now) m.delete(p)
    if (m.size === 0) { this.#claims.delete(i); return false }
    return true
  }

  /** Node id that owns piece i's block among us and the downloading peers. */
  owner (i: number): string {
    this.#owners ??= this.#assign([...this.#downloaders])
    return this.#owners[Math.floor(i / this.blockPieces)] ?? this.selfId
  }

  /** ms since this coordinator was created (the download started). */
  elapsed (): number { return this.#now() - this.#startedAt }

  /**
   * The rule above, minus condition 1 (the scheduler checks peer holdings).
   * `settled` is condition 3, decided by the session.
   */
  mayFetch (i: number, settled: boolean): boolean {
    if (this.claimed(i)) return false
    if (!settled) return false
    const now = this.#now()
    this.#settledAt ??= now
    if (this.owner(i) === this.selfId) return true
    // succession: walk the block's candidates from the owner down; a candidate
    // that went silent, or that has claimed nothing for OWNER_PATIENCE delays
    // (it does no origin work), passes its turn to the next; we fetch when the
    // turn reaches us — so an orphaned block goes to one node, not to every
    // node that has been waiting for it
    const delay = this.httpDelayMs * (1 + this.#jitter)
    for (const c of this.#candidates(Math.floor(i / this.blockPieces))) {
      if (c === this.selfId) return true
      const last = this.#activity.get(c)
      // one we know only through peer exchange cannot reach us with its claims yet: wait for it
      if (last === undefined) return false
      const silent = now - Math.max(this.#settledAt, last) >= delay
      const idle = now - Math.max(this.#settledAt, this.#lastClaim.get(c) ?? this.#settledAt) >= OWNER_PATIENCE * delay
      if (!silent && !idle) return false
    }
    return true
  }

  /**
   * The early phase, before the node has settled: piece i may come from the
   * origin if no peer claims it and this node owns its block among itself
   * and {@link earlyPeers}. False when there are no early peers (a node that
   * knows nobody yet cannot tell which blocks are its own).
   */
  mayFetchEarly (i: number): boolean {
    if (this.earlyPeers.length === 0 || this.claimed(i)) return false
    this.#earlyOwners ??= this.#assign(this.earlyPeers)
    return this.#earlyOwners[Math.floor(i / this.blockPieces)] === this.selfId
  }

  /** A block's candidates, the owner first (see {@link blockOwners}); for tests and the simulator. */
  candidates (block: number): readonly string[] {
    return this.#candidates(block)
  }

  /**
   * A block's candidates among us and the downloaders: the owner, then the
   * others in descending score (ties by id). Kept until the set of
   * downloaders changes: the scheduler asks for every missing piece on
   * every pass.
   */
  #candidates (block: number): readonly string[] {
    const cached = this.#candidateCache.get(block)
    if (cached !== undefined) return cached
    const owner = this.owner(block * this.blockPieces)
    const order = [owner, ...[this.selfId, ...this.#downloaders].filter(p => p !== owner)
      .map(p => ({ p, s: this.#score(p, block) }))
      .sort((a, b) => b.s - a.s || (a.p < b.p ? -1 : 1))
      .map(x => x.p)]
    this.#candidateCache.set(block, order)
    return order
  }

  /** Owners of every block among us and `peers` ({@link blockOwners}). */
  #assign (peers: readonly string[]): string[] {
    const ids = [this.selfId, ...peers]
    if (this.#scores.size > 4 * ids.length + 64) this.#scores.clear()
    return blockOwners(ids, this.#blockCount, (p, b) => this.#score(p, b))
  }

  #score (peerId: string, block: number): number {
    let row = this.#scores.get(peerId)
    if (row === undefined) {
      row = new Float64Array(this.#blockCount)
      for (let b = 0; b < row.length; b++) row[b] = score(peerId, b)
      this.#scores.set(peerId, row)
    }
    return row[block] ?? score(peerId, block)
  }
}

/**
 * Who fetches each block from the origin: rendezvous hashing — each block to
 * the node with the highest score for it (ties by id). Every node that knows
 * the same set computes the same owners without talking, and a node missing
 * from one node's view moves only that node's own blocks. (Bounded loads —
 * no node owning more than ⌈blocks ÷ nodes⌉ — were tried on 3 Dec 2026: they
 * spread a 20-node LAN's origin work evenly, but a view short of one node
 * then moved many blocks, not just its own, and a loopback crowd of 20 whose
 * views formed late fetched 1.117 copies; docs/benchmarks.md.)
 */
export function blockOwners (ids: readonly string[], blocks: number, scoreOf: (id: string, block: number) => number): string[] {
  const out: string[] = []
  for (let b = 0; b < blocks; b++) {
    let owner: string | undefined
    let best = -Infinity
    for (const p of ids) {
      const s = scoreOf(p, b)
      if (owner === undefined || s > best || (s === best && p < owner)) { owner = p; best = s }
    }
    if (owner === undefined) break
    out.push(owner)
  }
  return out
}

function score (peerId: string, block: number): number {
  const h = createHash('sha256').update(peerId).update(':').update(String(block)).digest()
  return h.readUInt32BE(0) * 0x200000 + (h.readUInt32BE(4) >>> 11)
}
