/**
 * The swarm on one libp2p node: the `/doswarm/swarm/1.0.0` handler, one
 * {@link ContentSession} per content, a link per (peer, content), peer
 * exchange, and bans (a banned peer is hung up on and refused by the
 * connection gater, which consults {@link Swarm.isBanned}). Bans reach the
 * IP address too (THREATS R9): once `ipBanThreshold` identities from one
 * address were banned, the address itself is refused
 * ({@link Swarm.isAddressBanned}), so a host cannot mint fresh peer ids to
 * come back.
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { ProtocolError } from '../errors.js'
import { sharedBufferPool } from '../util/buffer-pool.js'
import { FrameDecoder, MAX_PAYLOAD_LENGTH, PROTOCOL_ID, encodeFrame, readFrames, validateMessage, writeFrames, type Frame, type HelloMessage, type PeerRecord } from '../protocol/index.js'
import { DEFAULT_REQUEST_TIMEOUT_MS, PeerLink, type LinkStream } from './peer-link.js'
import { DEFAULT_MAX_PEX_DIALS, DialQueue } from './dial-queue.js'
import { ContentSession, type SessionStore } from './session.js'
import { DEFAULT_MAX_CONCURRENT_UPLOADS, UploadScheduler } from './upload.js'

/** Time allowed for the HELLO exchange on a new stream. @default 10000 */
export const HELLO_TIMEOUT_MS = 10_000
/** Links (peers) per content at most. @default 64 */
export const DEFAULT_MAX_LINKS_PER_CONTENT = 64
/** Streams of our protocol per connection, each way (one per content). @default 16 */
export const MAX_STREAMS_PER_CONNECTION = 16
/**
 * A link lost to an error (a reset, a connection cut by a timeout on a busy
 * host) is opened again after about this long, doubling per attempt, with
 * jitter so both ends do not collide every time. @default 1000
 */
export const RELINK_BASE_MS = 1000
/** Attempts to re-open a lost link before giving up on that peer (until it links again by itself). @default 6 */
export const MAX_RELINK_ATTEMPTS = 6
/** A link that stayed up this long starts its re-open attempts afresh when it is lost. @default 60000 */
export const RELINK_RESET_MS = 60_000
/**
 * Deadline of one peer-exchange dial (connection and handshake). Longer than
 * the HELLO's: a handshake on a busy host can take seconds, and one cut at
 * its deadline is CPU thrown away — then spent again on the retry. @default 20000
 */
export const PEX_DIAL_TIMEOUT_MS = 20_000
/**
 * Two nodes that hear of each other at once (a newcomer and the crowd it
 * joins) would dial each other at once: the node with the larger id waits
 * this long first, and dials only if no connection came meanwhile. @default 2000
 */
export const PEX_YIELD_MS = 2000
/**
 * A peer whose connection is at least this old when a download begins is an
 * owner in the download's early phase (see OriginCoordinator.mayFetchEarly):
 * a daemon's settled neighbourhood, not peers still arriving. @default 10000
 */
export const EARLY_PEER_MIN_AGE_MS = 10_000
/** Banned identities from one IP address after which the address is banned. @default 2 */
export const DEFAULT_IP_BAN_THRESHOLD = 2

export interface SwarmInit {
  node: Libp2p<any>
  /** @default DEFAULT_MAX_CONCURRENT_UPLOADS */
  maxConcurrentUploads?: number
  /** upload bandwidth cap (see rate-limit.ts) */
  uploadLimiter?: { consume: (bytes: number) => Promise<void> }
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  requestTimeoutMs?: number
  /** settle time before HTTP (see OriginCoordinator) */
  settleMs?: number
  /** delay before fetching from HTTP what another node owns (`--http-delay`) */
  httpDelayMs?: number
  /** static peers are configured (the origin waits until one answers, up to a limit) */
  expectPeers?: boolean
  /** peers are found by mDNS (the origin waits up to the http-delay for the first one) */
  discovering?: boolean
  /** @default EARLY_PEER_MIN_AGE_MS */
  earlyPeerMinAgeMs?: number
  /** @default DEFAULT_MAX_LINKS_PER_CONTENT */
  maxLinksPerContent?: number
  /** @default DEFAULT_IP_BAN_THRESHOLD */
  ipBanThreshold?: number
  /** peer-exchange dials in flight at once. @default DEFAULT_MAX_PEX_DIALS */
  maxPexDials?: number
  log?: (message: string) => void
}

export interface SwarmStats {
  bytesToPeers: number
  peersBanned: number
  links: number
}

export class Swarm {
  readonly node: Libp2p<any>
  readonly uploads: UploadScheduler
  readonly #sessions = new Map<string, ContentSession>()
  readonly #banned = new Map<string, string>()
  /** banned peer ids seen at each IP address */
  readonly #bannedAtIp = new Map<string, Set<string>>()
  readonly #bannedIps = new Set<string>()
  readonly #init: SwarmInit
  readonly #log: (m: string) => void
  readonly #onConnection = (evt: CustomEvent<Connection>): void => { this.#connected(evt.detail) }
  #started = false
  /** dials for peer exchange or a re-link, a few at a time, one per peer */
  readonly #dials: DialQueue
  /** peers whose peer-exchange dial waits out PEX_YIELD_MS */
  readonly #yielding = new Map<string, NodeJS.Timeout>()
  /** re-open attempts per (content, peer) after links lost to errors */
  readonly #relinks = new Map<string, { attempts: number, timer?: NodeJS.Timeout }>()
  #bytesToPeersClosed = 0
  readonly #closedPeerTotals = new Map<string, { sent: number, received: number }>()

  constructor (init: SwarmInit) {
    this.#init = init
    this.node = init.node
    this.uploads = new UploadScheduler(init.maxConcurrentUploads ?? DEFAULT_MAX_CONCURRENT_UPLOADS, init.uploadLimiter)
    this.#log = init.log ?? (() => {})
    this.#dials = new DialQueue(init.maxPexDials ?? DEFAULT_MAX_PEX_DIALS)
  }

  get selfId (): string { return this.node.peerId.toString() }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.node.handle(PROTOCOL_ID, (stream: Stream, connection: Connection) => { void this.#inbound(stream, connection) }, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    this.node.addEventListener('connection:open', this.#onConnection)
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.node.removeEventListener('connection:open', this.#onConnection)
    for (const r of this.#relinks.values()) clearTimeout(r.timer)
    this.#relinks.clear()
    for (const t of this.#yielding.values()) clearTimeout(t)
    this.#yielding.clear()
    this.#dials.close()
    for (const s of this.#sessions.values()) s.close()
    this.#sessions.clear()
    await this.node.unhandle(PROTOCOL_ID).catch(() => {})
  }

  isBanned (peerId: string): boolean { return this.#banned.has(peerId) }
  bannedPeers (): string[] { return [...this.#banned.keys()] }
  /** True once `ipBanThreshold` peers banned from this IP address: every connection from it is refused. */
  isAddressBanned (ip: string): boolean { return this.#bannedIps.has(ip) }
  bannedAddresses (): string[] { return [...this.#bannedIps] }

  /** Ban a peer: hang up now and refuse it from now on; enough banned peers from one IP ban the IP. */
  /** @param ipAtBan the peer's address when its connection is already gone */
  ban (peerId: string, reason: string, ipAtBan?: string): void {
    if (peerId === this.selfId || this.#banned.has(peerId)) return
    this.#banned.set(peerId, reason)
    this.#log(`banned ${peerId}: ${reason}`)
    let conns: Connection[] = []
    try { conns = this.node.getConnections(peerIdFromString(peerId)) } catch {}
    for (const ip of new Set([...conns.map(c => ipOf(c.remoteAddr)), ipAtBan])) {
      if (ip === undefined) continue
      const ids = this.#bannedAtIp.get(ip) ?? new Set<string>()
      ids.add(peerId)
      this.#bannedAtIp.set(ip, ids)
      if (ids.size >= (this.#init.ipBanThreshold ?? DEFAULT_IP_BAN_THRESHOLD) && !this.#bannedIps.has(ip)) {
        this.#bannedIps.add(ip)
        this.#log(`banned address ${ip}: ${ids.size} banned peer ids came from it`)
        for (const c of this.node.getConnections()) {
          if (ipOf(c.remoteAddr) === ip) void c.close().catch(() => {})
        }
      }
    }
    for (const s of this.#sessions.values()) s.links.get(peerId)?.close(new ProtocolError(`banned: ${reason}`))
    void this.node.hangUp(peerIdFromString(peerId)).catch(() => {})
  }

  stats (): SwarmStats {
    let bytesToPeers = this.#bytesToPeersClosed
    let links = 0
    for (const s of this.#sessions.values()) { bytesToPeers += s.counters.bytesToPeers; links += s.links.size }
    return { bytesToPeers, peersBanned: this.#banned.size, links }
  }

  session (contentId: string): ContentSession | undefined { return this.#sessions.get(contentId) }

  /** Share a content (downloading or complete) with the swarm. */
  /**
   * Bytes sent to and received from each peer, over every content this
   * swarm has shared since it started (closed links included).
   */
  peerTotals (): Map<string, { sent: number, received: number }> {
    const out = new Map<string, { sent: number, received: number }>()
    const add = (peerId: string, sent: number, received: number): void => {
      const t = out.get(peerId) ?? { sent: 0, received: 0 }
      t.sent += sent
      t.received += received
      out.set(peerId, t)
    }
    for (const [peerId, t] of this.#closedPeerTotals) add(peerId, t.sent, t.received)
    for (const s of this.#sessions.values()) {
      for (const [peerId, c] of s.counters.perPeer) add(peerId, c.sent, c.received)
      // counters.received is updated when a link closes; add what open links received so far
      for (const link of s.links.values()) add(link.peerId, 0, link.bytesReceived)
    }
    return out
  }

  /**
   * Share a content (downloading or complete) with the swarm.
   * @param opts.httpDelayMs this content's `--http-delay` (background downloads wait longer)
   */
  join (store: SessionStore, opts: { httpDelayMs?: number } = {}): ContentSession {
    const id = store.manifest.contentId
    const existing = this.#sessions.get(id)
    if (existing !== undefined) return existing
    const session = new ContentSession({
      store,
      selfId: this.selfId,
      uploads: this.uploads,
      listenAddrs: () => this.node.getMultiaddrs().map(a => a.toString()).filter(a => a.length <= 256),
      requestTimeoutMs: this.#init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      expectPeers: this.#init.expectPeers === true,
      discovering: this.#init.discovering === true,
      ban: (peerId, reason) => { this.ban(peerId, reason) },
      discovered: peers => { this.#dialDiscovered(session, peers, true) },
      lost: (peerId, addrs, upMs): boolean => this.#relink(session, peerId, addrs, upMs >= RELINK_RESET_MS),
      log: this.#log,
      earlyPeers: this.#earlyPeers(),
      ...(this.#init.settleMs !== undefined ? { settleMs: this.#init.settleMs } : {}),
      ...((opts.httpDelayMs ?? this.#init.httpDelayMs) !== undefined ? { httpDelayMs: opts.httpDelayMs ?? this.#init.httpDelayMs } : {})
    })
    this.#sessions.set(id, session)
    for (const conn of this.node.getConnections()) void this.#open(session, conn)
    return session
  }

  /** Peers connected for at least `earlyPeerMinAgeMs` (and not banned): the early owners of a download starting now. */
  #earlyPeers (): string[] {
    const minAge = this.#init.earlyPeerMinAgeMs ?? EARLY_PEER_MIN_AGE_MS
    const now = Date.now()
    const out = new Set<string>()
    for (const conn of this.node.getConnections()) {
      const peer = conn.remotePeer.toString()
      if (conn.status === 'open' && now - conn.timeline.open >= minAge && !this.#banned.has(peer)) out.add(peer)
    }
    return [...out]
  }

  /** Stop sharing a content. */
  leave (contentId: string): void {
    const s = this.#sessions.get(contentId)
    if (s === undefined) return
    this.#sessions.delete(contentId)
    s.close()
    this.#bytesToPeersClosed += s.counters.bytesToPeers
    for (const [peerId, c] of s.counters.perPeer) {
      const t = this.#closedPeerTotals.get(peerId) ?? { sent: 0, received: 0 }
      t.sent += c.sent
      t.received += c.received
      this.#closedPeerTotals.set(peerId, t)
    }
  }

  #connected (conn: Connection): void {
    const peer = conn.remotePeer.toString()
    if (this.#banned.has(peer)) { void conn.close().catch(() => {}); return }
    for (const s of this.#sessions.values()) void this.#open(s, conn)
  }

  async #open (session: ContentSession, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    if (this.#banned.has(peer) || session.links.has(peer) || session.links.size >= (this.#init.maxLinksPerContent ?? DEFAULT_MAX_LINKS_PER_CONTENT)) return
    if (conn.status !== 'open') return
    let stream: Stream
    try {
      stream = await conn.newStream(PROTOCOL_ID, { signal: AbortSignal.timeout(HELLO_TIMEOUT_MS) })
    } catch (err) {
      this.#log(`no swarm stream to ${peer}: ${(err as Error).message}`)
      return
    }
    const decoder = new FrameDecoder({ maxPayload: session.ctx.pieceSize, alloc: takePieceBuffer })
    const frames = readFrames(stream, decoder)
    try {
      await writeFrames(stream, encodeFrame(session.hello()), AbortSignal.timeout(HELLO_TIMEOUT_MS))
      const hello = await this.#firstHello(frames, session, peer)
      if (hello === undefined) { stream.abort(new Error('no HELLO')); return }
      this.#attach(session, stream, peer, true, hello, frames, decoder)
    } catch (err) {
      this.#refused(peer, err, session)
      stream.abort(err as Error)
    }
  }

  async #inbound (stream: Stream, conn: Connection): Promise<void> {
    const peer = conn.remotePeer.toString()
    if (this.#banned.has(peer)) { stream.abort(new Error('banned')); return }
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH, alloc: takePieceBuffer })
    const frames = readFrames(stream, decoder)
    let session: ContentSession | undefined
    try {
      const first = await this.#next(frames)
      // closed before any frame (the opener or the connection went away): a disconnect, not a violation
      if (first === undefined) { stream.abort(new Error('stream closed before HELLO')); return }
      if (first.message.type !== 'HELLO') throw new ProtocolError('first message is not HELLO')
      session = this.#sessions.get(first.message.contentId)
      if (session === undefined || session.links.size >= (this.#init.maxLinksPerContent ?? DEFAULT_MAX_LINKS_PER_CONTENT)) {
        // not our content (or no room): reset, as PROTOCOL.md §1 says; not a violation
        stream.abort(new Error('content not shared here'))
        return
      }
      validateMessage(first.message, session.ctx)
      decoder.maxPayload = session.ctx.pieceSize
      await writeFrames(stream, encodeFrame(session.hello()), AbortSignal.timeout(HELLO_TIMEOUT_MS))
      this.#attach(session, stream, peer, false, first.message, frames, decoder)
    } catch (err) {
      this.#refused(peer, err, session)
      stream.abort(err as Error)
    }
  }

  async #next (frames: AsyncIterator<Frame>): Promise<Frame | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`no HELLO within ${HELLO_TIMEOUT_MS} ms`)) }, HELLO_TIMEOUT_MS)
    })
    try {
      const r = await Promise.race([frames.next(), timeout])
      return r.done === true ? undefined : r.value
    } finally {
      clearTimeout(timer)
    }
  }

  async #firstHello (frames: AsyncIterator<Frame>, session: ContentSession, peer: string): Promise<HelloMessage | undefined> {
    const first = await this.#next(frames)
    if (first === undefined) return undefined // the peer does not share this content
    if (first.message.type !== 'HELLO') throw new ProtocolError(`${peer} answered with ${first.message.type}, not HELLO`)
    validateMessage(first.message, session.ctx)
    if (first.message.contentId !== session.manifest.contentId) throw new ProtocolError(`${peer} answered HELLO for another content`)
    return first.message
  }

  /** A HELLO exchange failed; a violation bans the peer and counts against `session`'s download. */
  #refused (peer: string, err: unknown, session: ContentSession | undefined): void {
    if (err instanceof ProtocolError) {
      this.ban(peer, err.message)
      session?.onHandshakeViolation(peer, err)
    } else this.#log(`swarm stream with ${peer} failed: ${(err as Error)?.message ?? String(err)}`)
  }

  #attach (session: ContentSession, stream: Stream, peer: string, outbound: boolean, hello: HelloMessage, frames: AsyncIterator<Frame>, decoder: FrameDecoder): void {
    const link = new PeerLink({ stream: stream as unknown as LinkStream, peerId: peer, outbound, host: session, hello, frames, bytesIn: () => decoder.bytesPushed })
    if (!session.addLink(link)) {
      void stream.close().catch(() => {})
      return
    }
    void link.run()
  }

  /**
   * Open a link lost to an error again: on the connection if it is still
   * there, else by dialling the addresses the peer gave in its HELLO. Retries
   * with doubling delays until the peer is linked, banned, or
   * {@link MAX_RELINK_ATTEMPTS} is reached. Returns true while it tries.
   */
  #relink (session: ContentSession, peerId: string, addrs: readonly string[], afresh: boolean): boolean {
    if (!this.#started || this.#banned.has(peerId) || peerId === this.selfId) return false
    const contentId = session.manifest.contentId
    const key = `${contentId} ${peerId}`
    const r = this.#relinks.get(key) ?? { attempts: 0 }
    this.#relinks.set(key, r)
    if (afresh) r.attempts = 0
    if (r.timer !== undefined) return true
    if (r.attempts >= MAX_RELINK_ATTEMPTS) return false
    const delay = RELINK_BASE_MS * 2 ** r.attempts * (0.5 + Math.random())
    r.attempts++
    r.timer = setTimeout(() => {
      r.timer = undefined
      if (!this.#started || this.#sessions.get(contentId) !== session || this.#banned.has(peerId) || session.links.has(peerId)) return
      let conn: Connection | undefined
      try { conn = this.node.getConnections(peerIdFromString(peerId)).find(c => c.status === 'open') } catch { return }
      if (conn !== undefined) void this.#open(session, conn)
      else this.#dialDiscovered(session, [{ peerId, addrs }], false)
      // check again later: the attempt may fail without a link to lose
      this.#relink(session, peerId, addrs, false)
    }, delay)
    r.timer.unref?.()
    return true
  }

  /**
   * Dial peers we were told of, through the dial queue. With `yieldToPeer`
   * (peer exchange), the node with the larger id lets the other dial first
   * ({@link PEX_YIELD_MS}). A dial that fails is tried again like a lost
   * link ({@link #relink}: doubling delays, a bounded number of times), and
   * the session keeps counting the peer in the swarm meanwhile — a crowd
   * on a busy host meshes over many seconds, and a node that forgot its
   * unreached peers would fetch from the origin what they already hold.
   */
  #dialDiscovered (session: ContentSession, peers: readonly PeerRecord[], yieldToPeer: boolean): void {
    const max = this.#init.maxLinksPerContent ?? DEFAULT_MAX_LINKS_PER_CONTENT
    for (const p of peers) {
      if (session.links.size >= max) return
      if (this.#banned.has(p.peerId) || p.peerId === this.selfId || this.#dials.has(p.peerId) || this.#yielding.has(p.peerId)) continue
      let id: PeerId
      try { id = peerIdFromString(p.peerId) } catch { continue }
      if (this.node.getConnections(id).length > 0) continue
      const addrs = p.addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      if (addrs.length === 0) continue
      if (yieldToPeer && p.peerId > this.selfId) {
        const timer = setTimeout(() => {
          this.#yielding.delete(p.peerId)
          if (this.#started && this.#sessions.get(session.manifest.contentId) === session) this.#dialDiscovered(session, [p], false)
        }, PEX_YIELD_MS)
        timer.unref?.()
        this.#yielding.set(p.peerId, timer)
        continue
      }
      this.#dials.add(p.peerId, async () => {
        // the queue may have held it a while: someone may have connected meanwhile
        if (!this.#started || this.node.getConnections(id).length > 0 || this.#banned.has(p.peerId)) return
        try {
          await this.node.peerStore.merge(id, { multiaddrs: addrs })
          await this.node.dial(id, { signal: AbortSignal.timeout(PEX_DIAL_TIMEOUT_MS) })
        } catch (err) {
          this.#log(`peer exchange dial to ${p.peerId} failed: ${(err as Error).message}`)
          if (this.#sessions.get(session.manifest.contentId) === session && this.#relink(session, p.peerId, p.addrs, false)) session.heardOf(p.peerId)
        }
      })
    }
  }
}

/**
 * PIECE payloads are assembled in buffers from the piece pool: the store takes
 * them without a copy and gives them back once written, so a download cycles
 * a few buffers instead of allocating one per piece (each fresh 1 MiB buffer
 * is external memory that drives V8 into full collections).
 */
function takePieceBuffer (size: number): Uint8Array {
  return sharedBufferPool().take(size)
}

/** The IP address of a connection's remote multiaddr. */
function ipOf (addr: Multiaddr): string | undefined {
  const first = addr.getComponents()[0]
  return first !== undefined && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined
}
