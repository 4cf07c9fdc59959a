/**
 * One simulated doswarm node: the glue of src/swarm/session.ts (settling,
 * warm-up, reservations, CLAIM/RELEASE/HAVE/PEERS handling, heard peers) and
 * of src/swarm/download.ts (#fill: peers first, rarest first, then coalesced
 * HTTP runs; endgame; the 200 ms poll) and peer-link.ts (pipelining,
 * request deadlines) and upload.ts (round-robin upload slots, least-sent
 * piece first), re-created line by line over virtual time. The decisions themselves are made by the
 * real OriginCoordinator, PiecePicker and SourceHealth, imported unchanged.
 */
import { ENDGAME_MAX_MISSING, DEFAULT_HTTP_CONCURRENCY, DEFAULT_MAX_RANGE_BYTES } from '../../src/swarm/download.js'
import { SourceHealth } from '../../src/swarm/health.js'
import { OWNER_PATIENCE, OriginCoordinator } from '../../src/swarm/origin-coord.js'
import { INITIAL_PIPELINE, MAX_PIPELINE, PIPELINE_TARGET_MS } from '../../src/swarm/peer-link.js'
import { PiecePicker, type PickContext } from '../../src/swarm/picker.js'
import { nextInQueue } from '../../src/swarm/upload.js'
import { HEARD_TTL_MS, QUIET_MS, RESERVE_EVERY_MS, WARMUP_MS, WARMUP_RUN_PIECES } from '../../src/swarm/session.js'
import type { SimConfig } from './config.js'
import type { Engine, SimEvent } from './engine.js'
import type { Flow, FlowNet } from './net.js'
import { fork, type Random } from './rng.js'

/** session.ts: peers heard of and not yet linked, at most (a module constant there). */
export const MAX_HEARD = 256
/** download.ts: the loop re-checks policy this often while it waits (`pollMs`). */
export const POLL_MS = 200
const HTTP_ID = 'http:origin'

/** What a node needs of the simulated world. */
export interface World {
  readonly engine: Engine
  readonly net: FlowNet
  readonly cfg: SimConfig
  readonly nodes: SimNode[]
  /** the origin's endpoint in the FlowNet */
  readonly origin: number
  readonly pieceCount: number
  pieceLen: (i: number) => number
  dial: (from: SimNode, to: number) => void
  completed: (node: SimNode) => void
  failed: (node: SimNode, reason: string) => void
  readonly counters: WorldCounters
}

export interface WorldCounters {
  messages: number
  mayFetchCalls: number
  mayFetchReal: number
  timeouts: number
  duplicatePieces: number
  httpAborts: number
  /** dials started (discovery and peer exchange), and those that became links */
  dials: number
  dialsLinked: number
  /** dials not made: one side was at `maxConnections` */
  dialsRefused: number
}

interface Link {
  peer: number
  id: string
  /** the peer's chunk map as we know it */
  remote: Uint8Array
  remoteCount: number
  /** pieces it has that we lack and nobody is fetching (pickRarest finds nothing on it when 0, outside endgame) */
  free: number
  /** SourceHealth.usable(id), refreshed whenever health changes (no corrupt pieces are modelled, so mayAsk(id, i) is the same) */
  usable: boolean
  /** pieces requested on this link now */
  asked: Set<number>
  pipeline: number
  running: number
}

interface PeerTask { link: Link, index: number, reqId: number, sentAt: number, timer: SimEvent, done: boolean }
interface HttpTask { pieces: Set<number>, handed: Set<number>, flow: Flow | undefined, next: number, end: number, done: boolean }
interface UploadReq { from: number, reqId: number, index: number, at: number }

export class SimNode {
  readonly idx: number
  readonly id: string
  readonly startAt: number
  readonly #w: World
  readonly #rng: Random
  coord!: OriginCoordinator
  picker!: PiecePicker
  readonly health = new SourceHealth()
  started = false
  /** session `expectPeers`: a static peer is configured (false with mDNS) */
  expectPeers = false
  completeAt: number | undefined
  failure: string | undefined
  readonly have: Uint8Array
  haveCount = 0
  readonly links = new Map<number, Link>()
  /** connections (and dials in progress): a peer we are connected to is not dialled again */
  readonly connected = new Set<number>()
  bytesFromHttp = 0
  bytesFromPeers = 0
  heardPeak = 0
  viewPeak = 0
  // session.ts state
  readonly #myClaims = new Map<number, number>()
  readonly #heard = new Map<number, SimEvent>()
  #answered = false
  #lastJoin = 0
  #settledAt: number | undefined
  /** session's settle moment (coordinator ms), for reports */
  get settledAt (): number | undefined { return this.#settledAt }
  #viewSize = 0
  #viewChangedAt = 0
  // mirror of the coordinator's private activity records, for the mayFetch shortcut
  readonly #activity = new Map<string, number>()
  readonly #lastClaim = new Map<string, number>()
  #coordSettledAt: number | undefined
  #jitter = 0
  // download.ts state
  readonly #inflight = new Map<number, number>()
  readonly #peerTasks = new Map<number, PeerTask>()
  readonly #httpTasks = new Set<HttpTask>()
  #nextReq = 1
  #fillPending = false
  // upload.ts state
  readonly #queues = new Map<number, UploadReq[]>()
  readonly #order: number[] = []
  #uploading = 0
  /** uploads started per piece (session.ts's upload rank) */
  readonly #sent: Uint32Array

  constructor (w: World, idx: number, id: string, startAt: number, rng: Random) {
    this.#w = w
    this.idx = idx
    this.id = id
    this.startAt = startAt
    this.#rng = fork(rng)
    this.have = new Uint8Array(w.pieceCount)
    this.#sent = new Uint32Array(w.pieceCount)
  }

  get complete (): boolean { return this.haveCount === this.#w.pieceCount }

  /** swarm.join + Downloader: coordinator, picker, reserve timer, poll, discovery dials. */
  start (peersToDial: number[]): void {
    const w = this.#w
    const e = w.engine
    this.started = true
    let first = true
    this.coord = new OriginCoordinator({
      selfId: this.id,
      pieceCount: w.pieceCount,
      now: () => e.now,
      random: () => { const r = this.#rng(); if (first) { first = false; this.#jitter = r } return r },
      settleMs: w.cfg.settleMs,
      httpDelayMs: w.cfg.httpDelayMs
    })
    this.picker = new PiecePicker(w.pieceCount, this.#rng)
    e.every(RESERVE_EVERY_MS, RESERVE_EVERY_MS, () => { if (this.#done()) return false; this.#reserve(); return true })
    e.every(POLL_MS, POLL_MS, () => { if (this.#done()) return false; this.#fill(false); return true })
    for (const p of peersToDial) w.dial(this, p)
    this.#poke()
  }

  #done (): boolean { return this.complete || this.failure !== undefined }

  // ---- messages -------------------------------------------------------------

  /** Deliver `fn` at every current link's node after the link latency (one event for all). */
  #broadcast (fn: (to: SimNode) => void): void {
    if (this.links.size === 0) return
    const w = this.#w
    const peers = [...this.links.keys()]
    w.counters.messages += peers.length
    w.engine.after(w.cfg.latencyMs, () => { for (const p of peers) fn(w.nodes[p]) })
  }

  #send (peer: number, fn: (to: SimNode) => void): void {
    const w = this.#w
    w.counters.messages++
    w.engine.after(w.cfg.latencyMs, () => { fn(w.nodes[peer]) })
  }

  #setDownloader (peerId: string, downloading: boolean): void {
    if (this.#w.cfg.ownership === 'blind') return
    this.coord.setDownloader(peerId, downloading)
    if (this.coord.downloaders > this.viewPeak) this.viewPeak = this.coord.downloaders
  }

  #seen (peerId: string): void { this.coord.seen(peerId); this.#activity.set(peerId, this.#w.engine.now) }

  // ---- session.ts -------------------------------------------------------------

  /** session.addLink after the HELLO exchange (the link is up on both sides). */
  addLink (peer: SimNode, _outbound: boolean): void {
    const remote = Uint8Array.from(peer.have)
    let free = 0
    for (let i = 0; i < remote.length; i++) if (remote[i] === 1 && this.have[i] === 0 && !this.#inflight.has(i)) free++
    const id = `peer:${peer.id}`
    const link: Link = { peer: peer.idx, id, remote, remoteCount: peer.haveCount, free, usable: this.health.usable(id), asked: new Set(), pipeline: INITIAL_PIPELINE, running: 0 }
    this.links.set(peer.idx, link)
    this.#seen(peer.id)
    this.#answered = true
    if (!this.#heard.has(peer.idx)) this.#lastJoin = this.coord.elapsed()
    const t = this.#heard.get(peer.idx)
    if (t !== undefined) t.cancelled = true
    this.#heard.delete(peer.idx)
    this.#setDownloader(peer.id, link.remoteCount !== this.#w.pieceCount)
    // #addAvailability (the downloader is attached from the start)
    for (let i = 0; i < remote.length; i++) if (remote[i] === 1) this.picker.addAvailable(i)
    this.#poke()
    const live = this.#liveClaims()
    if (live.length > 0) this.#send(peer.idx, to => { to.onClaim(this.idx, live, this.#w.cfg.claimTtlMs) })
    const others: number[] = []
    for (const l of this.links.values()) if (l !== link) others.push(l.peer)
    if (others.length > 0) { const list = others.slice(0, 64); this.#send(peer.idx, to => { to.onPeers(this.idx, list) }) }
    const news = [peer.idx]
    const w = this.#w
    const targets = others
    if (targets.length > 0) {
      w.counters.messages += targets.length
      w.engine.after(w.cfg.latencyMs, () => { for (const p of targets) w.nodes[p].onPeers(this.idx, news) })
    }
  }

  onHave (from: number, index: number): void {
    const link = this.links.get(from)
    if (link === undefined || link.remote[index] === 1) return
    link.remote[index] = 1
    link.remoteCount++
    if (this.have[index] === 0 && !this.#inflight.has(index)) link.free++
    const peerId = this.#w.nodes[from].id
    this.coord.release(peerId, [index])
    this.#seen(peerId)
    if (link.remoteCount === this.#w.pieceCount) this.#setDownloader(peerId, false)
    if (this.#done()) return
    this.picker.addAvailable(index)
    // d.poke(): the loop runs #fill. Only the source that announced can have new
    // work from a HAVE (it can only take HTTP eligibility away), so we skip
    // fills that could not start anything; time-driven HTTP work waits for the poll.
    if (this.have[index] === 0 && (this.#inflight.get(index) ?? 0) === 0 && link.running < link.pipeline) this.#poke()
    else if (this.#endgame()) this.#poke()
  }

  onClaim (from: number, indices: readonly number[], ttlMs: number): void {
    const peerId = this.#w.nodes[from].id
    const clash = indices.filter(i => this.#myClaims.has(i))
    if (clash.length > 0 && peerId < this.id) {
      for (const i of clash) this.#myClaims.delete(i)
      this.#abortHttp(clash)
      this.#release(clash)
    }
    const kept = peerId > this.id ? indices.filter(i => !this.#myClaims.has(i)) : indices
    if (this.started) {
      this.coord.claim(peerId, kept, Math.min(ttlMs, this.#w.cfg.claimTtlMs))
      this.#activity.set(peerId, this.#w.engine.now)
      this.#lastClaim.set(peerId, this.#w.engine.now)
    }
  }

  onRelease (from: number, indices: readonly number[]): void {
    const peerId = this.#w.nodes[from].id
    this.coord.release(peerId, indices)
    this.#activity.set(peerId, this.#w.engine.now)
    this.#poke()
  }

  onPeers (_from: number, peers: readonly number[]): void {
    // (index loops without a filtered copy: at N = 10,000 this runs ~40 million times while the links form)
    const w = this.#w
    const heard = this.#heard
    for (let k = 0; k < peers.length; k++) {
      const p = peers[k]
      if (p === this.idx || this.links.has(p)) continue
      if (heard.has(p) || heard.size >= MAX_HEARD) continue
      this.#lastJoin = this.coord.elapsed()
      const peerId = w.nodes[p].id
      this.#setDownloader(peerId, true)
      const timer = w.engine.after(HEARD_TTL_MS, () => {
        heard.delete(p)
        if (!this.links.has(p)) { this.#setDownloader(peerId, false); this.#poke() }
      })
      heard.set(p, timer)
      if (heard.size > this.heardPeak) this.heardPeak = heard.size
    }
    // swarm.#dialDiscovered
    for (let k = 0; k < peers.length; k++) {
      const p = peers[k]
      if (p === this.idx || this.links.has(p)) continue
      if (this.links.size >= w.cfg.maxLinks) return
      if (this.connected.has(p)) continue
      w.dial(this, p)
    }
  }

  #settled (): boolean {
    if (this.#settledAt !== undefined) return true
    const c = this.#w.cfg
    const t = this.coord.elapsed()
    const settled = t >= c.maxSettleMs || (t >= this.coord.settleMs && (!this.expectPeers || this.#answered) && t - this.#lastJoin >= QUIET_MS)
    if (settled) this.#settledAt = t
    return settled
  }

  #warmingUp (): boolean {
    if (this.#settledAt === undefined) return true
    const n = this.coord.downloaders
    const t = this.coord.elapsed()
    if (n !== this.#viewSize) { this.#viewSize = n; this.#viewChangedAt = t }
    return t - Math.max(this.#settledAt, this.#viewChangedAt) < WARMUP_MS
  }

  #reserve (): void {
    if (this.#w.cfg.ownership === 'off') return
    if (!this.#settled()) return
    if (!this.health.usable(HTTP_ID)) return
    const now = this.#w.engine.now
    const ttl = this.#w.cfg.claimTtlMs
    const fresh: number[] = []
    const renew: number[] = []
    const drop: number[] = []
    const fetching = this.#httpInFlight()
    for (let i = 0; i < this.have.length; i++) {
      if (this.have[i] === 1) continue
      const mine = this.#myClaims.get(i)
      const owned = this.coord.owner(i) === this.id
      if (mine !== undefined) {
        if (!owned && !fetching.has(i)) drop.push(i)
        else if (mine - now < ttl / 2) renew.push(i)
        continue
      }
      if (!owned || this.coord.claimed(i)) continue
      // links never close in this model, so "a link has i" is the picker's availability
      if (this.picker.availability(i) === 0) fresh.push(i)
    }
    if (drop.length > 0) this.#release(drop)
    if (fresh.length + renew.length > 0) this.#claim([...fresh, ...renew])
  }

  #liveClaims (): number[] {
    const now = this.#w.engine.now
    const out: number[] = []
    for (const [i, until] of this.#myClaims) { if (until > now) out.push(i); else this.#myClaims.delete(i) }
    return out.sort((a, b) => a - b)
  }

  #claim (indices: number[]): void {
    const ttl = this.#w.cfg.claimTtlMs
    const until = this.#w.engine.now + ttl
    for (const i of indices) this.#myClaims.set(i, until)
    const sorted = [...new Set(indices)].sort((a, b) => a - b)
    this.#broadcast(to => { to.onClaim(this.idx, sorted, ttl) })
  }

  #release (indices: number[]): void {
    for (const i of indices) this.#myClaims.delete(i)
    if (indices.length === 0) return
    const sorted = [...new Set(indices)].sort((a, b) => a - b)
    this.#broadcast(to => { to.onRelease(this.idx, sorted) })
  }

  /** store.onDurable → HAVE to every link (a HAVE also fulfils our claim). */
  #announce (index: number): void {
    this.#myClaims.delete(index)
    this.#broadcast(to => { to.onHave(this.idx, index) })
  }

  // ---- the origin rule (session.policy) -------------------------------------------

  #mayUseHttp (i: number): boolean {
    if (this.picker.availability(i) > 0) {
      for (const l of this.links.values()) if (l.remote[i] === 1 && l.usable) return false
    }
    return this.#mayFetch(i, this.#settled())
  }

  /**
   * OriginCoordinator.mayFetch, with its first succession step done here when
   * it already decides: the real method sorts every known downloader by a
   * hash for each call, which a real node can afford and 10,000 simulated
   * ones cannot. The step replicates the real code exactly (owner first in
   * rendezvous order; silent/idle as there) from mirrored activity records;
   * every other case calls the real method. `verify` checks each answer.
   */
  #mayFetch (i: number, settled: boolean): boolean {
    const w = this.#w
    w.counters.mayFetchCalls++
    if (w.cfg.ownership === 'off') return settled
    const fast = this.#mayFetchShortcut(i, settled)
    if (fast === undefined || w.cfg.verify) {
      w.counters.mayFetchReal++
      const real = this.coord.mayFetch(i, settled)
      if (fast !== undefined && fast !== real) throw new Error(`mayFetch shortcut disagrees for ${this.id} piece ${i}: ${fast} vs ${real}`)
      return real
    }
    return fast
  }

  #mayFetchShortcut (i: number, settled: boolean): boolean | undefined {
    if (this.coord.claimed(i)) return false
    if (!settled) return false
    if (this.#coordSettledAt === undefined) { this.#coordSettledAt = this.#w.engine.now; return undefined }
    const o = this.coord.owner(i)
    if (o === this.id) return true
    // the succession walk of the real mayFetch, over the coordinator's candidates (kept until its view changes)
    const now = this.#w.engine.now
    const delay = this.coord.httpDelayMs * (1 + this.#jitter)
    for (const c of this.coord.candidates(Math.floor(i / this.coord.blockPieces))) {
      if (c === this.id) return true
      const last = this.#activity.get(c)
      if (last === undefined) return false
      const silent = now - Math.max(this.#coordSettledAt, last) >= delay
      const idle = now - Math.max(this.#coordSettledAt, this.#lastClaim.get(c) ?? this.#coordSettledAt) >= OWNER_PATIENCE * delay
      if (!silent && !idle) return false
    }
    return true
  }

  #waiting (): boolean {
    const settled = this.#settled()
    for (let i = 0; i < this.have.length; i++) {
      if (this.have[i] === 1) continue
      if (!this.#mayFetch(i, settled)) return true
    }
    return false
  }

  // ---- download.ts ----------------------------------------------------------------

  #poke (): void {
    if (this.#fillPending || this.#done()) return
    this.#fillPending = true
    this.#w.engine.after(0, () => { this.#fillPending = false; this.#fill(true) })
  }

  #endgame (): boolean {
    const missing = this.have.length - this.haveCount
    return missing <= ENDGAME_MAX_MISSING && this.#inflight.size >= missing
  }

  #ctx (eligible: (i: number) => boolean): PickContext {
    return {
      endgame: this.#endgame(),
      inOrder: this.coord.downloaders === 0,
      have: i => this.have[i] === 1,
      inflight: i => this.#inflight.get(i) ?? 0,
      eligible
    }
  }

  /**
   * Downloader.#fill. `peers` false is the 200 ms poll, which only looks at
   * HTTP: what a peer can be asked changes only on events (which fill).
   */
  #fill (peers: boolean): void {
    if (this.#done()) return
    if (peers) {
      if (this.#w.cfg.verify) this.#checkFree()
      for (const link of this.links.values()) {
        if (!link.usable) continue
        while (link.running < link.pipeline && (link.free > 0 || this.#endgame())) {
          const i = this.picker.pickRarest(this.#ctx(j => link.remote[j] === 1 && link.usable && !link.asked.has(j)))
          if (i === undefined) break
          this.#startPeer(link, i)
        }
      }
    }
    if (this.health.usable(HTTP_ID)) {
      const cap = this.#warmingUp() ? 1 : undefined
      const limit = Math.min(DEFAULT_HTTP_CONCURRENCY, cap ?? Infinity)
      const maxRun = Math.max(1, Math.floor(DEFAULT_MAX_RANGE_BYTES / this.#w.cfg.pieceBytes))
      while (this.#httpTasks.size < limit) {
        const runCap = this.#warmingUp() ? WARMUP_RUN_PIECES : undefined
        const run = this.picker.pickRun(this.#ctx(i => this.#mayUseHttp(i)), Math.max(1, Math.min(maxRun, runCap ?? maxRun)))
        if (run === undefined) break
        this.#startHttp(run.first, run.count)
      }
    }
    if (this.#peerTasks.size === 0 && this.#httpTasks.size === 0 && !this.complete && !this.#waiting()) {
      this.failure = 'PIECE_UNAVAILABLE: no source left for a missing piece'
      this.#w.failed(this, this.failure)
    }
  }

  /** verify mode: the incremental `free` counts equal a recount */
  #checkFree (): void {
    for (const l of this.links.values()) {
      let free = 0
      for (let i = 0; i < l.remote.length; i++) if (l.remote[i] === 1 && this.have[i] === 0 && !this.#inflight.has(i)) free++
      if (free !== l.free) throw new Error(`node ${this.idx}: link ${l.peer} free ${l.free}, recount ${free}`)
    }
  }

  #inc (i: number): void {
    const n = this.#inflight.get(i) ?? 0
    this.#inflight.set(i, n + 1)
    if (n === 0 && this.have[i] === 0) this.#freeDelta(i, -1)
  }

  #dec (i: number): void {
    const n = (this.#inflight.get(i) ?? 1) - 1
    if (n <= 0) {
      this.#inflight.delete(i)
      if (this.have[i] === 0) this.#freeDelta(i, 1)
    } else this.#inflight.set(i, n)
  }

  #freeDelta (i: number, d: number): void {
    if (this.picker.availability(i) === 0) return
    for (const l of this.links.values()) if (l.remote[i] === 1) l.free += d
  }

  #startPeer (link: Link, index: number): void {
    const w = this.#w
    const reqId = this.#nextReq++
    link.running++
    link.asked.add(index)
    this.#inc(index)
    const timer = w.engine.after(w.cfg.requestTimeoutMs, () => {
      // PeerLink: the deadline halves the pipeline and cancels; the task fails (SourceHealth)
      link.pipeline = Math.max(1, link.pipeline >> 1)
      w.counters.timeouts++
      this.#endPeer(task, true)
      this.health.failure(link.id, `did not answer piece ${index}`)
      link.usable = this.health.usable(link.id)
      this.#poke()
    })
    const task: PeerTask = { link, index, reqId, sentAt: w.engine.now, timer, done: false }
    this.#peerTasks.set(reqId, task)
    this.#send(link.peer, to => { to.onRequest(this.idx, reqId, index) })
  }

  #endPeer (task: PeerTask, cancel: boolean): void {
    if (task.done) return
    task.done = true
    task.timer.cancelled = true
    this.#peerTasks.delete(task.reqId)
    task.link.running--
    task.link.asked.delete(task.index)
    this.#dec(task.index)
    if (cancel) this.#send(task.link.peer, to => { to.onCancel(this.idx, task.reqId) })
  }

  onPiece (from: number, reqId: number, index: number): void {
    const task = this.#peerTasks.get(reqId)
    if (task === undefined || task.link.peer !== from) return // late answer to a cancelled request
    if (this.#w.engine.now - task.sentAt < PIPELINE_TARGET_MS) task.link.pipeline = Math.min(MAX_PIPELINE, task.link.pipeline + 1)
    this.#endPeer(task, false)
    this.#accept(index, false, task.link.id)
    this.#poke()
  }

  /** Downloader.#accept with an instant, always-successful store put. */
  #accept (index: number, http: boolean, sourceId: string): void {
    if (this.have[index] === 1) { this.#w.counters.duplicatePieces++; return }
    this.health.success(sourceId)
    if (!this.#inflight.has(index)) this.#freeDelta(index, -1)
    this.have[index] = 1
    this.haveCount++
    const n = this.#w.pieceLen(index)
    if (http) this.bytesFromHttp += n; else this.bytesFromPeers += n
    // endgame: other single-piece peer requests for it are pointless now
    for (const t of [...this.#peerTasks.values()]) if (t.index === index) { this.#endPeer(t, true) }
    this.#announce(index)
    if (this.complete) {
      this.completeAt = this.#w.engine.now
      for (const t of [...this.#httpTasks]) this.#endHttp(t, true)
      this.#w.completed(this)
    }
  }

  #httpInFlight (): Set<number> {
    const out = new Set<number>()
    for (const t of this.#httpTasks) for (const i of t.pieces) out.add(i)
    return out
  }

  #startHttp (first: number, count: number): void {
    const w = this.#w
    const task: HttpTask = { pieces: new Set(), handed: new Set(), flow: undefined, next: first, end: first + count, done: false }
    for (let i = first; i < first + count; i++) { task.pieces.add(i); this.#inc(i) }
    this.#httpTasks.add(task)
    if (w.cfg.ownership !== 'off') this.#claim([...task.pieces]) // onHttpFetch
    w.engine.after(w.cfg.originLatencyMs, () => { this.#httpNext(task) })
  }

  #httpNext (task: HttpTask): void {
    if (task.done) return
    if (task.next >= task.end) { this.#endHttp(task, false); return }
    const i = task.next
    const w = this.#w
    task.flow = w.net.start(w.origin, this.idx, w.pieceLen(i), () => {
      task.flow = undefined
      task.next++
      task.handed.add(i)
      task.pieces.delete(i)
      this.#dec(i)
      this.#accept(i, true, HTTP_ID)
      this.#poke()
      this.#httpNext(task)
    })
  }

  #endHttp (task: HttpTask, aborted: boolean): void {
    if (task.done) return
    task.done = true
    if (task.flow !== undefined) { this.#w.net.cancel(task.flow); task.flow = undefined }
    if (aborted) this.#w.counters.httpAborts++
    const left = [...task.pieces].filter(i => !task.handed.has(i) && this.have[i] === 0)
    if (left.length > 0) this.#release(left) // onHttpRelease
    for (const i of task.pieces) this.#dec(i)
    task.pieces.clear()
    this.#httpTasks.delete(task)
    this.#poke()
  }

  #abortHttp (indices: readonly number[]): void {
    for (const t of [...this.#httpTasks]) if (indices.some(i => t.pieces.has(i))) this.#endHttp(t, true)
  }

  // ---- serving: peer-link.#serve + UploadScheduler ------------------------------------

  onRequest (from: number, reqId: number, index: number): void {
    if (this.have[index] === 0) throw new Error(`node ${this.idx} asked for piece ${index} it does not hold`)
    let q = this.#queues.get(from)
    if (q === undefined) { q = []; this.#queues.set(from, q); this.#order.push(from) }
    q.push({ from, reqId, index, at: this.#w.engine.now })
    this.#pump()
  }

  onCancel (from: number, reqId: number): void {
    const q = this.#queues.get(from)
    if (q === undefined) return
    const k = q.findIndex(r => r.reqId === reqId)
    if (k < 0) return
    q.splice(k, 1)
    if (q.length === 0) { this.#queues.delete(from); const o = this.#order.indexOf(from); if (o >= 0) this.#order.splice(o, 1) }
  }

  #pump (): void {
    const w = this.#w
    while (this.#uploading < w.cfg.uploadSlots && this.#order.length > 0) {
      const peer = this.#order.shift() as number
      const q = this.#queues.get(peer) as UploadReq[]
      // as UploadScheduler: the piece sent least often first (the session's upload rank)
      const r = q.splice(nextInQueue(q, w.engine.now, e => e.at, e => this.#sent[e.index] as number), 1)[0] as UploadReq
      this.#sent[r.index]++ // session.onUploadStart
      if (q.length === 0) this.#queues.delete(peer); else this.#order.push(peer)
      this.#uploading++
      w.net.start(this.idx, r.from, w.pieceLen(r.index), () => {
        this.#uploading--
        this.#send(r.from, to => { to.onPiece(this.idx, r.reqId, r.index) })
        this.#pump()
      })
    }
  }
}
