/**
 * One content in the swarm: its store, the links to the peers that share it,
 * the origin coordination, and — while the content is incomplete — the
 * download scheduler. The session is the {@link PeerLinkHost} of its links.
 */
import type { Manifest } from '../manifest/types.js'
import { MAX_CLAIM_INDICES, messageContext, splitPeers, type HelloMessage, type MessageContext, type PeerRecord } from '../protocol/index.js'
import type { Bitfield } from '../util/bitfield.js'
import type { Downloader, DownloadPolicy } from './download.js'
import { DEFAULT_CLAIM_TTL_MS, DEFAULT_MAX_SETTLE_MS, OriginCoordinator } from './origin-coord.js'
import type { PeerLink, PeerLinkHost } from './peer-link.js'
import type { UploadScheduler } from './upload.js'

/** What a session needs of the piece store. */
export interface SessionStore {
  readonly manifest: Manifest
  readonly have: Bitfield
  readonly complete: boolean
  read: (index: number) => Promise<Uint8Array>
  onDurable: ((indices: number[]) => void) | undefined
}

/** Settling waits until no peer has joined or been heard of for this long. @default 1000 */
export const QUIET_MS = 1000
/**
 * After settling, and after every change in the set of downloading peers,
 * one short HTTP request at a time for this long: a view that is still
 * growing commits the node to little the others might fetch too. @default 2000
 */
export const WARMUP_MS = 2000
/** Pieces per HTTP request during warm-up. @default 4 */
export const WARMUP_RUN_PIECES = 4
/** A peer heard of through PEERS counts in ownership this long unless it links. @default 30000 */
export const HEARD_TTL_MS = 30_000
/** Links are looked at for bytes that arrived (the peer is alive) at most this often. @default 250 */
export const ACTIVITY_CHECK_MS = 250
/** How often owned blocks are reserved (claimed) and claims renewed. @default 500 */
export const RESERVE_EVERY_MS = 500
/** Peers heard of and not yet linked, at most. */
const MAX_HEARD = 256
/**
 * While a linked peer still downloads and some peer announced a piece (or a
 * downloading peer linked) within this time, a piece no source can give us
 * now is waited for rather than given up: the origin may be out of our reach
 * (a stall on a congested link retires it for this download) while the
 * others still fetch and share.
 * @default 60000
 */
export const PEER_PROGRESS_PATIENCE_MS = 60_000

export interface SessionInit {
  store: SessionStore
  selfId: string
  uploads: UploadScheduler
  listenAddrs: () => string[]
  requestTimeoutMs: number
  settleMs?: number
  httpDelayMs?: number
  claimTtlMs?: number
  /** static peers are configured: settle only once one has answered (or after maxSettleMs) */
  expectPeers: boolean
  /**
   * Peers are found by multicast discovery (mDNS): until the first peer
   * links, settle no earlier than the http-delay — a crowd started together
   * finds itself over seconds, and a node that settles alone owns every block.
   */
  discovering?: boolean
  /** @default DEFAULT_MAX_SETTLE_MS */
  maxSettleMs?: number
  /**
   * Peers this node had been connected to for a while when the download
   * began (a daemon in a LAN that meshed long ago): after the settle time and
   * until it settles, the node may fetch from the origin the blocks it owns
   * among itself and these ({@link OriginCoordinator.mayFetchEarly}), rather
   * than leave the origin idle while the crowd's HELLOs go round.
   */
  earlyPeers?: readonly string[]
  /** the swarm bans a peer (violation) */
  ban: (peerId: string, reason: string) => void
  /** peer exchange: dial these */
  discovered: (peers: readonly PeerRecord[]) => void
  /**
   * A link closed on an error (not a clean close by either side, not a ban
   * of ours): the swarm may open it again. Returns true if it will try.
   */
  lost?: (peerId: string, addrs: readonly string[], upMs: number) => boolean
  /** warnings (a message of ours that could not be sent) */
  log?: (message: string) => void
  now?: () => number
}

export interface SessionCounters {
  bytesToPeers: number
  perPeer: Map<string, { sent: number, received: number }>
}

export class ContentSession implements PeerLinkHost {
  readonly manifest: Manifest
  readonly ctx: MessageContext
  readonly store: SessionStore
  readonly uploads: UploadScheduler
  readonly coordinator: OriginCoordinator
  readonly links = new Map<string, PeerLink>()
  readonly counters: SessionCounters = { bytesToPeers: 0, perPeer: new Map() }
  requestTimeoutMs: number
  readonly #init: SessionInit
  readonly #claimTtl: number
  /** our own live claims: piece → expiry */
  readonly #myClaims = new Map<number, number>()
  readonly #now: () => number
  #downloader: Downloader | undefined
  /** a peer has answered our HELLO (even if it has left or been banned since) */
  #answered = false
  /** when (coordinator ms) a peer last joined or was heard of: settling waits for a quiet moment */
  #lastJoin = 0
  /** last HAVE from a peer, or link of a downloading peer (a newcomer gets its chance to announce); -Infinity before any */
  #lastPeerProgress = -Infinity
  /** the first moment the node was settled (warm-up counts from it) */
  #settledAt: number | undefined
  /** peers heard of through PEERS but not linked yet: they take part in ownership for a while */
  readonly #heard = new Map<string, NodeJS.Timeout>()
  #reserveTimer: NodeJS.Timeout | undefined
  #viewSize = 0
  /** bytes each link had delivered when last looked at ({@link #noteActivity}) */
  readonly #bytesSeen = new WeakMap<PeerLink, number>()
  #activityCheckedAt = -Infinity
  #viewChangedAt = 0
  #closing = false
  /** uploads of each piece this node has started (saturating): the upload rank */
  readonly #uploadsStarted: Uint16Array

  constructor (init: SessionInit) {
    this.#init = init
    this.store = init.store
    this.manifest = init.store.manifest
    this.ctx = messageContext(this.manifest)
    this.uploads = init.uploads
    this.requestTimeoutMs = init.requestTimeoutMs
    this.#now = init.now ?? (() => performance.now())
    this.#claimTtl = init.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS
    this.coordinator = new OriginCoordinator({
      selfId: init.selfId,
      pieceCount: this.ctx.pieceCount,
      now: this.#now,
      ...(init.earlyPeers !== undefined ? { earlyPeers: init.earlyPeers } : {}),
      ...(init.settleMs !== undefined ? { settleMs: init.settleMs } : {}),
      ...(init.httpDelayMs !== undefined ? { httpDelayMs: init.httpDelayMs } : {})
    })
    this.#uploadsStarted = new Uint16Array(this.ctx.pieceCount)
    const previous = init.store.onDurable
    init.store.onDurable = indices => {
      previous?.(indices)
      this.#announce(indices)
    }
  }

  get have (): Bitfield { return this.store.have }
  async read (index: number): Promise<Uint8Array> { return await this.store.read(index) }

  /** Our HELLO: content id, our chunk map, our listen addresses. */
  hello (): HelloMessage {
    return {
      type: 'HELLO',
      contentId: this.manifest.contentId,
      pieceCount: this.ctx.pieceCount,
      bitfield: this.store.have.bytes,
      listenAddrs: this.#init.listenAddrs().slice(0, 16)
    }
  }

  /** Attach the download scheduler; peers become its sources. */
  /**
   * Reservations: once settled, a downloading node CLAIMs every missing piece
   * of the blocks it owns (that no peer holds or claims), and renews its
   * claims while it still needs them and can reach the origin. Peers then
   * leave those pieces to it however slowly it gets to them; a node that
   * loses its origin lets its claims lapse (they expire after the TTL).
   */
  #reserve (): void {
    const d = this.#downloader
    if (d === undefined || !this.#settled()) return
    const now = this.#now()
    const have = this.store.have
    if (!d.httpUsable()) return
    const fresh: number[] = []
    const renew: number[] = []
    const drop: number[] = []
    const fetching = d.httpInFlight()
    for (let i = 0; i < have.length; i++) {
      if (have.get(i)) continue
      const mine = this.#myClaims.get(i)
      const owned = this.coordinator.owner(i) === this.#init.selfId
      if (mine !== undefined) {
        // a claim stands while we own the piece or are fetching it; the swarm view may have moved it to another node
        if (!owned && !fetching.has(i)) drop.push(i)
        else if (mine - now < this.#claimTtl / 2) renew.push(i)
        continue
      }
      if (!owned || this.coordinator.claimed(i)) continue
      let held = false
      for (const link of this.links.values()) if (link.has(i)) { held = true; break }
      if (!held) fresh.push(i)
    }
    if (drop.length > 0) this.#release(drop)
    if (fresh.length + renew.length > 0) this.#claim([...fresh, ...renew])
  }

  attachDownloader (d: Downloader): void {
    clearInterval(this.#reserveTimer)
    this.#reserveTimer = setInterval(() => { this.#reserve() }, RESERVE_EVERY_MS)
    this.#reserveTimer.unref?.()
    this.#downloader = d
    for (const link of this.links.values()) this.#addAvailability(link)
  }

  detachDownloader (): void {
    clearInterval(this.#reserveTimer)
    this.#downloader = undefined
  }

  /** The policy the scheduler follows for HTTP (docs/ARCHITECTURE.md, "origin fallback"). */
  policy (): DownloadPolicy {
    return {
      mayUseHttp: i => {
        // a peer holding i keeps HTTP off it only while the scheduler would still
        // ask that peer for i: one that stalled or sent a bad copy must not (THREATS T2)
        const d = this.#downloader
        // the picker counts the links holding i: none, nothing to scan
        if (d === undefined || d.picker.availability(i) > 0) {
          for (const link of this.links.values()) if (link.has(i) && (d?.health.mayAsk(link.id, i) ?? true)) return false
        }
        this.#noteActivity()
        return this.#mayFetch(i)
      },
      onHttpFetch: indices => {
        this.#claim(indices)
      },
      maxHttpConcurrency: () => this.#httpConcurrency(),
      inOrder: () => this.coordinator.downloaders === 0,
      maxHttpRun: () => this.#warmingUp() ? WARMUP_RUN_PIECES : undefined,
      onHttpRelease: indices => { this.#release(indices) },
      waiting: () => {
        this.#noteActivity()
        const have = this.store.have
        for (let i = 0; i < have.length; i++) {
          if (have.get(i)) continue
          if (!this.#mayFetch(i)) return true
        }
        return this.#peersProgressing()
      }
    }
  }

  /**
   * Bytes arriving on a link show its peer alive before they complete a
   * frame: on a congested link one 1 MiB PIECE can take longer than the
   * http-delay, and an owner that is busy sending us a piece is not silent.
   * (Traces of the 20-node loopback crowd, event loops seconds late, showed
   * linked owners passed over as silent and their blocks fetched again.)
   */
  #noteActivity (): void {
    const now = this.#now()
    if (now - this.#activityCheckedAt < ACTIVITY_CHECK_MS) return
    this.#activityCheckedAt = now
    for (const link of this.links.values()) {
      const n = link.bytesIn
      if (n !== this.#bytesSeen.get(link)) {
        this.#bytesSeen.set(link, n)
        this.coordinator.seen(link.peerId)
      }
    }
  }

  /**
   * The origin rule, minus condition 1 (checked by the caller): the settled
   * rule once the node has settled; before that, after the settle time, the
   * early phase's ownership among the peers connected at start.
   */
  #mayFetch (i: number): boolean {
    const settled = this.#settled()
    if (!settled && this.coordinator.elapsed() >= this.coordinator.settleMs) return this.coordinator.mayFetchEarly(i)
    return this.coordinator.mayFetch(i, settled)
  }

  /**
   * Condition 3 of the origin rule: have peers had their chance to show up?
   * Settled once the settle time has passed, a configured static peer has
   * answered (with mDNS discovery: a peer has linked, or the http-delay has
   * passed), and no peer joined or was heard of for {@link QUIET_MS} — or,
   * whatever happens, after `maxSettleMs`.
   */
  #settled (): boolean {
    if (this.#settledAt !== undefined) return true
    const t = this.coordinator.elapsed()
    const settled = t >= (this.#init.maxSettleMs ?? DEFAULT_MAX_SETTLE_MS) || (
      t >= this.coordinator.settleMs &&
      (!this.#init.expectPeers || this.#answered) &&
      (this.#init.discovering !== true || this.#answered || t >= this.coordinator.httpDelayMs) &&
      t - this.#lastJoin >= QUIET_MS)
    if (settled) this.#settledAt = t
    return settled
  }

  /**
   * While the swarm view is young, a node keeps one HTTP request in flight,
   * so a view that is still growing commits it to one run, not four.
   */
  #httpConcurrency (): number | undefined {
    return this.#warmingUp() ? 1 : undefined
  }

  /**
   * Warm-up lasts WARMUP_MS after settling and after every change in the set
   * of downloading peers — and for as long as configured static peers exist
   * but none has answered: such a node went to the origin only because it
   * waited `maxSettleMs`, and on a busy host its crowd may simply be slow to
   * link (measured: one node of a 20-node loopback crowd whose dial to the
   * bootstrap peer kept timing out fetched 0.8 of a copy at full speed alone).
   */
  #warmingUp (): boolean {
    if (this.#settledAt === undefined) return true
    if (this.#init.expectPeers && !this.#answered) return true
    const n = this.coordinator.downloaders
    const t = this.coordinator.elapsed()
    if (n !== this.#viewSize) { this.#viewSize = n; this.#viewChangedAt = t }
    return t - Math.max(this.#settledAt, this.#viewChangedAt) < WARMUP_MS
  }

  /** A link finished its HELLO exchange; returns false if it must be refused. */
  addLink (link: PeerLink): boolean {
    const existing = this.links.get(link.peerId)
    if (existing !== undefined && !existing.closed) {
      // both sides opened a stream at once: keep the one opened by the smaller peer id
      const opener = (l: PeerLink): string => l.outbound ? this.#init.selfId : l.peerId
      if (opener(existing) <= opener(link)) return false
      existing.close()
    }
    this.links.set(link.peerId, link)
    this.coordinator.seen(link.peerId)
    this.#answered = true
    if (!this.#heard.has(link.peerId)) this.#lastJoin = this.coordinator.elapsed()
    clearTimeout(this.#heard.get(link.peerId))
    this.#heard.delete(link.peerId)
    this.coordinator.setDownloader(link.peerId, !link.remote.full)
    if (!link.remote.full) this.#lastPeerProgress = this.coordinator.elapsed()
    this.#addAvailability(link)
    // tell the newcomer what we are fetching from the origin, and who else is here
    const live = this.#liveClaims()
    for (let k = 0; k < live.length; k += MAX_CLAIM_INDICES) {
      void link.send({ type: 'CLAIM', indices: live.slice(k, k + MAX_CLAIM_INDICES), ttlMs: this.#claimTtl })
    }
    const others: PeerRecord[] = []
    for (const l of this.links.values()) {
      if (l !== link && l.listenAddrs.length > 0) others.push({ peerId: l.peerId, addrs: l.listenAddrs.slice(0, 16) })
    }
    // as many PEERS messages as the header limit needs: one message for 20
    // peers with two addresses each is already over 4096 bytes
    for (const msg of splitPeers(others)) void link.send(msg)
    // and tell the others about the newcomer, so every node's view of the swarm grows at once
    // (the origin rule needs everyone to agree who is downloading)
    if (link.listenAddrs.length > 0) {
      const news: PeerRecord[] = [{ peerId: link.peerId, addrs: link.listenAddrs.slice(0, 16) }]
      for (const l of this.links.values()) if (l !== link) void l.send({ type: 'PEERS', peers: news })
    }
    return true
  }

  #addAvailability (link: PeerLink): void {
    const d = this.#downloader
    if (d === undefined) return
    for (let i = 0; i < link.remote.length; i++) if (link.remote.get(i)) d.picker.addAvailable(i)
    d.addSource(link)
  }

  /** Some linked peer still downloads, and peers announced a piece or a downloading peer linked recently (see {@link PEER_PROGRESS_PATIENCE_MS}). */
  #peersProgressing (): boolean {
    if (this.coordinator.elapsed() - this.#lastPeerProgress >= PEER_PROGRESS_PATIENCE_MS) return false
    for (const l of this.links.values()) if (!l.closed && !l.remote.full) return true
    return false
  }

  /**
   * Every frame shows the peer is alive. Ownership of origin blocks passes on
   * only from a peer that went silent: one that still talks but announces
   * nothing (its commits and claim renewals come seconds apart on a busy host)
   * keeps its blocks; the idle rule covers one that does no origin work.
   */
  onFrame (link: PeerLink): void { this.coordinator.seen(link.peerId) }

  onHave (link: PeerLink, index: number): void {
    this.#lastPeerProgress = this.coordinator.elapsed()
    this.coordinator.release(link.peerId, [index])
    this.coordinator.seen(link.peerId)
    if (link.remote.full) this.coordinator.setDownloader(link.peerId, false)
    const d = this.#downloader
    if (d !== undefined) { d.picker.addAvailable(index); d.poke() }
  }

  onClaim (link: PeerLink, indices: readonly number[], ttlMs: number): void {
    // both of us claim some of these: the smaller peer id keeps them (PROTOCOL.md, CLAIM)
    const clash = indices.filter(i => this.#myClaims.has(i))
    if (clash.length > 0 && link.peerId < this.#init.selfId) {
      for (const i of clash) this.#myClaims.delete(i)
      this.#downloader?.abortHttp(clash)
      // tell everyone, so nobody waits for a claim we gave up
      this.#release(clash)
    }
    // we keep our claim on clashing pieces when our id is smaller: the claimer will drop its claim
    const kept = link.peerId > this.#init.selfId ? indices.filter(i => !this.#myClaims.has(i)) : indices
    this.coordinator.claim(link.peerId, kept, Math.min(ttlMs, this.#claimTtl))
  }

  onRelease (link: PeerLink, indices: readonly number[]): void {
    this.coordinator.release(link.peerId, indices)
    this.#downloader?.poke()
  }

  onPeers (_link: PeerLink, peers: readonly PeerRecord[]): void {
    const fresh = peers.filter(p => p.peerId !== this.#init.selfId && !this.links.has(p.peerId))
    for (const p of fresh) {
      // a peer in this swarm we are about to meet: count it as a downloader now, so we
      // do not claim its blocks in the meantime (told of it again: it is still there)
      if (!this.#heard.has(p.peerId)) this.#lastJoin = this.coordinator.elapsed()
      this.heardOf(p.peerId)
    }
    this.#init.discovered(fresh)
  }

  /**
   * Pieces this node has sent least often go first in each peer's upload
   * queue (upload.ts): when it alone holds what the others want, each piece
   * leaves once before any leaves twice, and the peers it fed pass them on.
   */
  uploadRank (index: number): number { return this.#uploadsStarted[index] ?? 0 }

  onUploadStart (index: number): void {
    if (this.#uploadsStarted[index] < 0xffff) this.#uploadsStarted[index]++
  }

  onUploaded (link: PeerLink, bytes: number): void {
    this.counters.bytesToPeers += bytes
    this.#peerCounter(link.peerId).sent += bytes
  }

  onLocalError (link: PeerLink, err: Error): void {
    this.#init.log?.(`a message to ${link.peerId} was dropped: ${err.message}`)
  }

  onViolation (link: PeerLink, err: Error): void {
    this.#downloader?.banSource(link.id, err.message)
    this.#init.ban(link.peerId, err.message)
  }

  /**
   * A peer broke the protocol during the HELLO exchange, before it had a
   * link: the swarm bans it; the download counts the ban too. It did answer,
   * so the origin need not wait for it any longer.
   */
  onHandshakeViolation (peerId: string, err: Error): void {
    this.#answered = true
    this.#downloader?.banSource(`peer:${peerId}`, err.message)
    this.#downloader?.poke()
  }

  /**
   * Count a downloading peer we are not linked to in ownership for
   * {@link HEARD_TTL_MS} from now: its blocks stay its own meanwhile (its
   * claims cannot reach us, so we wait rather than fetch them too); forgotten
   * if it does not link. Called again — told of it again, or the swarm tries
   * another dial — the time starts afresh.
   */
  heardOf (peerId: string): void {
    if (this.#closing || this.links.has(peerId) || peerId === this.#init.selfId) return
    const known = this.#heard.get(peerId)
    if (known === undefined && this.#heard.size >= MAX_HEARD) return
    clearTimeout(known)
    if (known === undefined) this.coordinator.setDownloader(peerId, true)
    const timer = setTimeout(() => {
      this.#heard.delete(peerId)
      if (!this.links.has(peerId)) { this.coordinator.setDownloader(peerId, false); this.#downloader?.poke() }
    }, HEARD_TTL_MS)
    timer.unref?.()
    this.#heard.set(peerId, timer)
  }

  onClosed (link: PeerLink): void {
    this.#peerCounter(link.peerId).received += link.bytesReceived
    if (this.links.get(link.peerId) !== link) return
    this.links.delete(link.peerId)
    this.coordinator.peerGone(link.peerId)
    if (link.closeError !== undefined && !this.#closing) {
      // lost on an error, not left: while the swarm links it again, a downloading peer keeps its blocks
      const relinking = this.#init.lost?.(link.peerId, link.listenAddrs, performance.now() - link.openedAt) === true
      if (relinking && !link.remote.full) this.heardOf(link.peerId)
    }
    const d = this.#downloader
    if (d !== undefined) {
      for (let i = 0; i < link.remote.length; i++) if (link.remote.get(i)) d.picker.removeAvailable(i)
      d.removeSource(link.id)
    }
  }

  #peerCounter (peerId: string): { sent: number, received: number } {
    let c = this.counters.perPeer.get(peerId)
    if (c === undefined) { c = { sent: 0, received: 0 }; this.counters.perPeer.set(peerId, c) }
    return c
  }

  #liveClaims (): number[] {
    const now = this.#now()
    const out: number[] = []
    for (const [i, until] of this.#myClaims) { if (until > now) out.push(i); else this.#myClaims.delete(i) }
    return out.sort((a, b) => a - b)
  }

  #broadcast (make: (indices: number[]) => Parameters<PeerLink['send']>[0], indices: number[]): void {
    const sorted = [...new Set(indices)].sort((a, b) => a - b)
    for (let k = 0; k < sorted.length; k += MAX_CLAIM_INDICES) {
      const msg = make(sorted.slice(k, k + MAX_CLAIM_INDICES))
      for (const link of this.links.values()) void link.send(msg)
    }
  }

  #claim (indices: number[]): void {
    const until = this.#now() + this.#claimTtl
    for (const i of indices) this.#myClaims.set(i, until)
    this.#broadcast(ix => ({ type: 'CLAIM', indices: ix, ttlMs: this.#claimTtl }), indices)
  }

  #release (indices: number[]): void {
    for (const i of indices) this.#myClaims.delete(i)
    if (indices.length > 0) this.#broadcast(ix => ({ type: 'RELEASE', indices: ix }), indices)
  }

  /**
   * New durable pieces: HAVE to every peer (a HAVE also fulfils our claim)
   * that may still want them. A peer holding every piece is skipped: it
   * fetches nothing, and on a seeder-to-leecher link these HAVEs were half
   * of the leecher's messages.
   */
  #announce (indices: number[]): void {
    for (const i of indices) this.#myClaims.delete(i)
    for (const link of this.links.values()) {
      if (link.remote.full) continue
      for (const i of indices) void link.send({ type: 'HAVE', index: i })
    }
  }

  /** Close every link (node stopping or content dropped). */
  close (): void {
    this.#closing = true
    clearInterval(this.#reserveTimer)
    for (const t of this.#heard.values()) clearTimeout(t)
    this.#heard.clear()
    for (const link of [...this.links.values()]) link.close()
  }
}
