/**
 * The doswarm libp2p node: TCP (+ a pnet private network in group mode) +
 * Noise + yamux + identify + ping (+ mDNS),
 * a persistent Ed25519 identity, resource limits sized so that a swarm of
 * ~20 nodes on one host works while one host cannot flood us (THREATS R1–R6),
 * a connection gater the swarm bans peers through, and static peers that are
 * redialled until they answer.
 */
import '../polyfill.js'
import { isIP } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { identify, type Identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, MultiaddrConnection, PeerDiscovery, PeerId, PeerInfo } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { PortInUseError, UsageError } from '../errors.js'
import { PROTOCOL_ID } from '../protocol/constants.js'
import { InboundAdmission, libp2pCeilings, registerAdmission } from './admission.js'
import { groupPsk } from './group.js'
import { loadOrCreatePeerKey } from './identity.js'
import { quietRepeats } from './quiet-discovery.js'
import { guardedYamux } from './yamux-guard.js'

export { PEER_KEY_FILE, loadOrCreatePeerKey } from './identity.js'
export { GROUP_SECRET_BYTES, generateGroupSecret, groupSecretKeyFile, parseGroupSecret } from './group.js'

/** The default TCP port, as Windows Delivery Optimization uses. */
export const DEFAULT_PORT = 7680
export const DEFAULT_LISTEN: readonly string[] = Object.freeze([`/ip4/0.0.0.0/tcp/${DEFAULT_PORT}`, `/ip6/::/tcp/${DEFAULT_PORT}`])
/** Shortest ping timeout before libp2p's connection monitor gives up on a peer. @default 20000 */
export const PING_TIMEOUT_FLOOR_MS = 20_000
/** mDNS service name: only doswarm nodes answer, not every libp2p app on the LAN. */
export const MDNS_SERVICE_TAG = '_doswarm._udp.local'
/**
 * ms between a node's mDNS queries (libp2p's default is 10 s). Every query is
 * answered by every node on the LAN, by multicast to all, so each node parses
 * about N² answers per interval: with 20 daemons idle and meshed, mDNS was
 * ~15 % of their CPU at 10 s. A node still queries the moment it starts, and
 * a newcomer dials every node that answers, so a longer repeat delays only
 * the re-discovery of a peer that dropped off (peer exchange also tells of
 * it). @default 30000
 */
export const MDNS_QUERY_INTERVAL_MS = 30_000

/**
 * Resource limits of the node. Defaults in {@link DEFAULT_LIMITS}; see the
 * comments there for why each value was chosen.
 */
export interface P2PLimits {
  /** connection manager: open connections before pruning starts and inbound ones are refused */
  maxConnections: number
  /** gater: open connections from one IP address (Sybil identities per host, R1/R9) */
  maxConnectionsPerIp: number
  /** yamux guard: streams a peer may open on one connection within 10 s before the connection is closed and the peer banned (R3) */
  maxStreamOpensPer10s: number
  /** connection manager: new inbound connections per second from one IP address */
  inboundConnectionThreshold: number
  /** connection manager: inbound connections still in the Noise/yamux upgrade */
  maxIncomingPendingConnections: number
  /** admission: handshakes of hosts not known yet that may start at once (R1/R9 CPU budget) */
  inboundHandshakeBurst: number
  /** admission: ms per further handshake of hosts not known yet; the others wait (a pending slot each) */
  inboundHandshakeRefillMs: number
  /** admission: inbound connections (handshakes in flight included) of a host not known yet that have not shown they speak doswarm (R1/R9) */
  maxUnprovenPerIp: number
  /** admission: ms such a connection may take to show it (identify) before its host's further sockets are refused at once */
  unprovenGraceMs: number
  /** admission: ms after which such an idle connection is closed when another socket from its host arrives (the host is never locked out for good) */
  unprovenCloseMs: number
  /** ms an inbound connection may take to finish Noise + yamux negotiation (slowloris bound) */
  inboundUpgradeTimeout: number
  /** ms for one outbound dial, socket to upgraded connection */
  dialTimeout: number
  /** ms for one address of a dial; a group node dialling a node with another secret (or none) may only fail by this timeout */
  addressDialTimeout: number
  /** yamux: concurrent streams the remote may open on one connection (extra ones are reset) */
  maxInboundStreams: number
  /** yamux: concurrent streams we may open on one connection */
  maxOutboundStreams: number
  /** yamux: streams the remote may open before libp2p listens on a fresh connection; more kill the connection */
  maxEarlyStreams: number
  /** yamux: per-stream receive window ceiling (bytes a peer may send before we grant more) */
  maxStreamWindowSize: number
  /** per stream: bytes buffered unread before the stream is reset; ≥ 2 × window so pause() never resets */
  maxReadBufferLength: number
  /** per stream: bytes queued by send() while the peer does not read, before the stream is reset */
  maxWriteBufferLength: number
  /** yamux guard: yamux PINGs a peer may send on one connection within 10 s (each costs an encrypted pong) before it is closed and banned (R6) */
  maxYamuxPingsPer10s: number
  /** yamux guard: bytes queued on a connection for a peer that does not read before it is closed (R6) */
  maxConnectionWriteBuffer: number
  /** yamux guard: the same in queued chunks (a pong is one 30-byte chunk that costs far more memory) (R6) */
  maxConnectionWriteChunks: number
  /** ms without a byte on a TCP socket before it is closed (yamux keep-alive runs every 30 s) */
  socketInactivityTimeout: number
  /** connection monitor: ms between the liveness pings libp2p sends on every connection */
  pingIntervalMs: number
}

/**
 * Default limits. The libp2p defaults break a swarm on one host (5 new inbound
 * connections/s per IP, 10 pending upgrades: of 20 nodes on 127.0.0.1 dialling
 * one at once, 15 are reset) and leave write buffers unbounded (R6).
 */
export const DEFAULT_LIMITS: Readonly<P2PLimits> = Object.freeze({
  // a LAN swarm rarely needs more than a few dozen peers; 200 keeps FDs and
  // memory bounded and leaves room for a 20-node single-host swarm to full-mesh
  maxConnections: 200,
  // one LAN host normally runs one node; 32 leaves room for the 20-node
  // single-host test swarms (all on 127.0.0.1) while one host — or one host's
  // Sybil identities — can take at most 32 of the 200 slots
  maxConnectionsPerIp: 32,
  // an honest node opens one swarm stream per shared content plus identify
  // and ping; 256 in 10 s leaves room for a daemon sharing a hundred
  // contents, while a stream flood is ended within a fraction of a second
  maxStreamOpensPer10s: 256,
  // 2 × a 20-node burst from one address (all test nodes share 127.0.0.1);
  // still a cap for R1: each handshake costs ~14 ms of CPU
  inboundConnectionThreshold: 40,
  // a 20-node burst (+ margin) may be in the handshake at once; bounded for R2
  maxIncomingPendingConnections: 32,
  // a handshake plus connection set-up costs ~9 ms of the event loop: 8 at
  // once, then 8/s (≤ 8 % of a core) for hosts not known yet; known hosts
  // (dialled by us, or speaking doswarm) skip the queue (admission.ts)
  inboundHandshakeBurst: 8,
  inboundHandshakeRefillMs: 125,
  // an unknown host gets 2 handshakes (one node, plus a crossed dial) until
  // one of its connections shows it speaks doswarm (identify lists our
  // protocol, ms after the handshake): a Sybil flood from one host costs 2
  // Noise handshakes, not 32. Its other sockets wait; once the 2 have been
  // open 2 s without identifying, the host's further sockets are refused
  // before any crypto (admission.ts) — until one of the 2 is 30 s old: the
  // next socket from the host then takes its place (≤ 2 handshakes per 30 s)
  maxUnprovenPerIp: 2,
  unprovenGraceMs: 2_000,
  unprovenCloseMs: 30_000,
  // libp2p's 10 s: a handshake costs ~14 ms of CPU, but a loaded 2-core host
  // (hashing, 20 nodes in one test process) can stretch that a lot; a
  // slowloris holds at most maxIncomingPendingConnections slots this long
  inboundUpgradeTimeout: 10_000,
  dialTimeout: 10_000,
  // libp2p's default, made explicit: a peer outside our group may never answer
  // the pnet nonce exchange, so such a dial ends here
  addressDialTimeout: 6_000,
  // per connection, all protocols together; each protocol sets its own smaller
  // cap in handle() (R3)
  maxInboundStreams: 128,
  maxOutboundStreams: 128,
  // lets a peer open a batch of request streams right after connecting
  maxEarlyStreams: 32,
  // 4 MiB covers a LAN's bandwidth-delay product many times over; the 16 MiB
  // default only makes slow readers easier to reset
  maxStreamWindowSize: 4 * 1024 * 1024,
  maxReadBufferLength: 8 * 1024 * 1024,
  // finite (default is Infinity, R6) but above the largest piece (16 MiB) plus
  // framing, so one whole-piece send() is accepted; anything queued beyond
  // that (a writer ignoring send() === false / 'drain') resets the stream
  maxWriteBufferLength: 17 * 1024 * 1024,
  // below yamux, Noise queues without limit; our stream writes wait for
  // 'drain', so an honest queue holds at most a frame per stream (≤ 128 ×
  // 64 KiB), while a ping flood against a peer that never reads piles up
  // tiny pongs (R6)
  // yamux's own keep-alive pings every 30 s; libp2p's ping service is a
  // stream protocol, not a yamux PING
  maxYamuxPingsPer10s: 64,
  maxConnectionWriteBuffer: 32 * 1024 * 1024,
  maxConnectionWriteChunks: 65_536,
  socketInactivityTimeout: 120_000,
  // libp2p's default is 10 s. Each ping is a new stream (multistream-select,
  // a peer-store update on both sides), on every connection: at 10 s the
  // pings were ~20 % of 20 meshed idle daemons' CPU. 30 s still drops a
  // silent peer within 2 min: the next ping within 30 s, its timeout 20–80 s
  // (yamux keep-alive keeps the socket busy, so the inactivity timeout
  // cannot). The monitor starts a ping every interval
  // whether or not the last one answered; see pingStreamsFor()
  pingIntervalMs: 30_000
})

/**
 * Concurrent ping streams a connection must allow each way. libp2p's
 * connection monitor opens a new ping stream every `pingIntervalMs` even
 * while earlier ones wait (up to their timeout, ≤ 4 × the floor), and it
 * aborts the whole connection — every swarm stream on it — when opening one
 * fails. With the ping service's defaults (1 outbound, 2 inbound) one ping
 * slower than the interval on a busy host did exactly that: 58 honest links
 * cut in a 20-node run. So allow every ping that can overlap, on both sides.
 */
export function pingStreamsFor (pingIntervalMs: number): number {
  return Math.ceil(4 * PING_TIMEOUT_FLOOR_MS / pingIntervalMs) + 1
}

export interface P2PNodeInit {
  /** state directory; the persistent Ed25519 peer identity lives in <stateDir>/peer-key (mode 0600, created on first start) */
  stateDir: string
  /** @default ['/ip4/0.0.0.0/tcp/7680', '/ip6/::/tcp/7680'] */
  listen?: string[]
  /** @default true */
  mdns?: boolean
  /** ms between mDNS queries. @default {@link MDNS_QUERY_INTERVAL_MS} */
  mdnsIntervalMs?: number
  /**
   * Source IP address of outgoing TCP connections (a literal address of this
   * host): a host with several addresses picks the one its peers should see.
   * Dials to the other IP family then fail. @default the system's choice
   */
  dialFrom?: string
  /** static peers: multiaddrs, with or without /p2p/<id> suffix; dialled in the background until connected */
  peers?: string[]
  /** @default 200 ({@link DEFAULT_LIMITS}) */
  maxConnections?: number
  /** other limits; defaults in {@link DEFAULT_LIMITS} */
  limits?: Partial<P2PLimits>
  /** connection gater hook: return true to deny a peer (the swarm bans peers through this); a throwing hook denies */
  denyPeer?: (peerId: string) => boolean
  /** connection gater hook: return true to refuse every connection from an IP address (IP bans); a throwing hook denies */
  denyAddress?: (ip: string) => boolean
  /**
   * Called when the node closed a connection because the peer broke a
   * transport-level limit (giant yamux frame, stream flood); the node bans
   * the peer through this.
   */
  onAbuse?: (peerId: string, reason: string, ip: string | undefined) => void
  /** where warnings go (failed static-peer dials, …); default: libp2p's debug logger `doswarm:p2p` */
  log?: (message: string) => void
  /** static-peer redial backoff */
  redial?: RedialOptions
  /**
   * Group mode: a 32-byte secret shared by the group ({@link parseGroupSecret},
   * {@link generateGroupSecret}). Every connection is then wrapped in a libp2p
   * private network (`@libp2p/pnet`, XSalsa20 under the pre-shared key) below
   * Noise, so only nodes holding the same secret can connect; others fail
   * during the handshake. Unset = open (LAN) mode.
   */
  groupSecret?: Uint8Array
}

export interface RedialOptions {
  /** first retry delay in ms @default 1000 */
  minDelayMs?: number
  /** retry delay ceiling in ms @default 5000 */
  maxDelayMs?: number
}

export type P2PServices = { identify: Identify, ping: Ping, mdns?: PeerDiscovery }
export type P2PNode = Libp2p<P2PServices>

interface NodeExtras {
  log: (message: string) => void
  redial: Required<RedialOptions>
  /** aborted when the node stops */
  stopped: AbortSignal
}
const extras = new WeakMap<Libp2p<any>, NodeExtras>()

/** The node's peer id as a string (`12D3KooW…`). */
export function peerIdString (node: Libp2p<any>): string {
  return node.peerId.toString()
}

/**
 * Create and start a node. Throws {@link PortInUseError} if a listen port is
 * taken, {@link UsageError} for bad listen/peer addresses or limits,
 * `KeyInvalidError` for an unusable peer key.
 */
export async function createP2PNode (init: P2PNodeInit): Promise<P2PNode> {
  if (typeof init.stateDir !== 'string' || init.stateDir === '') throw new UsageError('a state directory is required for the peer identity')
  const listen = parseAddrs(init.listen ?? [...DEFAULT_LISTEN], 'listen')
  if (init.dialFrom !== undefined && isIP(init.dialFrom) === 0) throw new UsageError(`dialFrom: ${JSON.stringify(init.dialFrom)} is not an IP address`)
  const staticPeers = (init.peers ?? []).map(parseStaticPeer)
  const limits = resolveLimits(init)
  const psk = init.groupSecret === undefined ? undefined : groupPsk(init.groupSecret)
  const log = init.log
  const { privateKey } = await loadOrCreatePeerKey(init.stateDir)

  const services: Record<string, (components: any) => unknown> = {
    identify: identify(),
    ping: ping({ maxInboundStreams: pingStreamsFor(limits.pingIntervalMs), maxOutboundStreams: pingStreamsFor(limits.pingIntervalMs) })
  }
  const mdnsInit = mdnsOptions(init) // checked even when mDNS is off
  if (init.mdns !== false) services.mdns = quietRepeats(mdns(mdnsInit))

  const streamOptions = {
    maxStreamWindowSize: limits.maxStreamWindowSize,
    maxReadBufferLength: limits.maxReadBufferLength,
    maxWriteBufferLength: limits.maxWriteBufferLength
  }

  let node: P2PNode
  let nodeRef: P2PNode | undefined
  // per-host, pending-slot and table shares, decided before any crypto (admission.ts)
  const admission = new InboundAdmission(limits, () => nodeRef?.getConnections() ?? [])
  const ceilings = libp2pCeilings(limits)
  // who is behind a socket, learned at the Noise handshake, for abuse reports
  // from the yamux guard (which sees only the stream it runs on)
  const peerOfSocket = new WeakMap<object, { peerId: string, ip: string | undefined }>()
  const reportAbuse = (stream: unknown, reason: string): void => {
    let s = stream as { stream?: unknown } | undefined
    for (let depth = 0; depth < 4 && typeof s === 'object' && s !== null; depth++) {
      const who = peerOfSocket.get(s)
      if (who !== undefined) { init.onAbuse?.(who.peerId, reason, who.ip); return }
      s = s.stream as { stream?: unknown } | undefined
    }
  }
  try {
    node = await createLibp2p({
      privateKey,
      addresses: { listen: listen.map(a => a.toString()) },
      transports: [tcp({
        inboundSocketInactivityTimeout: limits.socketInactivityTimeout,
        outboundSocketInactivityTimeout: limits.socketInactivityTimeout,
        // a socket-level backstop below the connection manager (FD exhaustion)
        maxConnections: ceilings.maxConnections + ceilings.maxIncomingPendingConnections,
        // @libp2p/tcp hands dialOpts to net.connect (its type lists only a few of the keys)
        ...(init.dialFrom !== undefined ? { dialOpts: { localAddress: init.dialFrom } as Record<string, unknown> } : {})
      })],
      connectionEncrypters: [noise()],
      // yamux 8.0.1 buffers a whole DATA frame before checking it against the
      // window; the guard closes the connection on a frame longer than the
      // window ceiling as soon as its header arrives (R5, yamux-guard.ts)
      streamMuxers: [guardedYamux({
        maxDataFrame: limits.maxStreamWindowSize,
        maxStreamOpens: limits.maxStreamOpensPer10s,
        maxPings: limits.maxYamuxPingsPer10s,
        windowMs: 10_000,
        maxConnectionWriteBuffer: limits.maxConnectionWriteBuffer,
        maxConnectionWriteChunks: limits.maxConnectionWriteChunks,
        onViolation: (stream, err) => { reportAbuse(stream, err.message) },
        maxInboundStreams: limits.maxInboundStreams,
        maxOutboundStreams: limits.maxOutboundStreams,
        maxEarlyStreams: limits.maxEarlyStreams,
        streamOptions
      })],
      // libp2p pings every peer and drops connections whose ping exceeds an
      // adaptive timeout; a busy node (hashing, a crowd on one machine) answers
      // late but is not dead, so give pings a generous floor
      // (pingStreamsFor: the pings it overlaps must not fail for want of streams)
      connectionMonitor: { pingInterval: limits.pingIntervalMs, pingTimeout: { minTimeout: PING_TIMEOUT_FLOOR_MS, maxTimeout: 4 * PING_TIMEOUT_FLOOR_MS } },
      connectionManager: {
        // admission control enforces maxConnections and the pending cap; libp2p's are backstops above them
        maxConnections: ceilings.maxConnections,
        inboundConnectionThreshold: limits.inboundConnectionThreshold,
        maxIncomingPendingConnections: ceilings.maxIncomingPendingConnections,
        inboundUpgradeTimeout: limits.inboundUpgradeTimeout,
        dialTimeout: limits.dialTimeout,
        addressDialTimeout: limits.addressDialTimeout
      },
      connectionGater: gater(init, admission, (maConn, peerId) => { peerOfSocket.set(maConn, { peerId: peerId.toString(), ip: addressIp(maConn.remoteAddr) }) }),
      ...(psk !== undefined && { connectionProtector: preSharedKey({ psk }) }),
      services: services as any
    }) as unknown as P2PNode
  } catch (err) {
    throw translateStartError(err)
  }

  nodeRef = node
  registerAdmission(node, admission)
  // our own dials beyond maxConnections take a slot from the host holding the most
  node.addEventListener('connection:open', () => { admission.enforceTable() })
  // a peer whose identify lists the doswarm protocol proves its host (its waiting sockets start at once)
  node.addEventListener('peer:identify', (evt) => { if (evt.detail.protocols.includes(PROTOCOL_ID)) admission.prove(evt.detail.connection) })
  node.addEventListener('stop', () => { admission.close() }, { once: true })
  const stop = new AbortController()
  node.addEventListener('stop', () => { stop.abort() }, { once: true })

  const logger = node.logger.forComponent('doswarm:p2p')
  extras.set(node, {
    log: log ?? ((m: string) => { logger(m) }),
    redial: { minDelayMs: init.redial?.minDelayMs ?? 1000, maxDelayMs: init.redial?.maxDelayMs ?? 5000 },
    stopped: stop.signal
  })

  if (node.services.mdns !== undefined) dialDiscoveredPeers(node, node.services.mdns as unknown as PeerSource, limits.maxConnections)
  if (staticPeers.length > 0) {
    void dialStaticPeers(node, staticPeers.map(p => p.addr.toString())).catch(() => {})
  }
  return node
}

/** A parsed static peer: its dial address and, when given, its expected id. */
export interface StaticPeer {
  addr: Multiaddr
  peerId?: PeerId
}

/** Parse a static peer address; throws {@link UsageError} when it is not a multiaddr. */
export function parseStaticPeer (text: string): StaticPeer {
  let addr: Multiaddr
  try {
    addr = multiaddr(text.trim())
  } catch (err) {
    throw new UsageError(`invalid peer address "${text}": ${(err as Error).message} (expected e.g. /ip4/192.168.1.10/tcp/7680)`)
  }
  const components = addr.getComponents()
  if (components.length === 0) throw new UsageError(`invalid peer address "${text}": empty`)
  const p2p = components.filter(c => c.name === 'p2p')
  if (p2p.length > 1) throw new UsageError(`invalid peer address "${text}": more than one /p2p/ component`)
  let peerId: PeerId | undefined
  if (p2p.length === 1) {
    const value = p2p[0]?.value
    try {
      if (value === undefined) throw new Error('missing value')
      peerId = peerIdFromString(value)
    } catch (err) {
      throw new UsageError(`invalid peer id in "${text}": ${(err as Error).message}`)
    }
  }
  return peerId === undefined ? { addr } : { addr, peerId }
}

/**
 * Dial each static peer. Resolves once every peer has had its first attempt;
 * failures are logged, not thrown. Peers that did not answer are retried in
 * the background with exponential backoff (1 s doubling to 5 s, jittered), and
 * a connected static peer that disconnects is redialled the same way, until
 * the node stops or `signal` aborts. Addresses without `/p2p/<id>` work: the
 * remote's id is learned from the Noise handshake (verified for libp2p 3.3).
 */
export async function dialStaticPeers (node: Libp2p<any>, peers: string[], signal?: AbortSignal): Promise<void> {
  const ex = extras.get(node) ?? defaultExtras(node)
  const stop = signal === undefined ? ex.stopped : AbortSignal.any([ex.stopped, signal])
  const firsts: Array<Promise<void>> = []
  for (const text of peers) {
    let target: StaticPeer
    try {
      target = parseStaticPeer(text)
    } catch (err) {
      ex.log(`static peer skipped: ${(err as Error).message}`)
      continue
    }
    if (target.peerId?.equals(node.peerId) === true) {
      ex.log(`static peer ${text} is this node; skipped`)
      continue
    }
    const first = Promise.withResolvers<void>()
    firsts.push(first.promise)
    void keepConnected(node, target, stop, ex, first.resolve)
  }
  await Promise.all(firsts)
}

async function keepConnected (node: Libp2p<any>, target: StaticPeer, stop: AbortSignal, ex: NodeExtras, firstDone: () => void): Promise<void> {
  const name = target.addr.toString()
  let known: PeerId | undefined = target.peerId
  let delay = ex.redial.minDelayMs
  let lastError = ''
  const backoff = async (): Promise<void> => {
    await sleep(delay * (0.8 + 0.4 * Math.random()), stop)
    delay = Math.min(delay * 2, ex.redial.maxDelayMs)
  }
  const running = (): boolean => !stop.aborted && node.status === 'started'
  try {
    while (running()) {
      known ??= await connectedPeerAt(node, target.addr)
      if (known !== undefined && node.getConnections(known).length > 0) {
        // connected (by our dial or theirs): wait until it drops, then redial;
        // a connection that drops soon after opening (e.g. the peer bans us)
        // does not reset the backoff
        firstDone()
        lastError = ''
        const since = Date.now()
        await waitForDisconnect(node, known, stop)
        if (!running()) return
        if (Date.now() - since >= STABLE_CONNECTION_MS) delay = ex.redial.minDelayMs
        await backoff()
        continue
      }
      let failure: string
      try {
        const conn = await node.dial(target.addr, { signal: stop })
        if (known !== undefined && !conn.remotePeer.equals(known)) {
          // a bare address now answered by a different node (restarted with a new key)
          ex.log(`static peer ${name} is now ${conn.remotePeer.toString()} (was ${known.toString()})`)
        }
        known = target.peerId ?? conn.remotePeer
        if (known.equals(node.peerId)) {
          ex.log(`static peer ${name} is this node; not dialling it again`)
          await conn.close().catch(() => {})
          return
        }
        if (conn.status === 'open') continue
        failure = 'connection closed by the peer right after opening'
      } catch (err) {
        if (!running()) return
        if (isSelfDial(err)) {
          ex.log(`static peer ${name} is this node; not dialling it again`)
          return
        }
        failure = errorMessage(err)
        if (target.peerId === undefined) known = undefined
      }
      // log each distinct failure once, not every retry
      if (failure !== lastError) ex.log(`static peer ${name} unreachable (${failure}); retrying`)
      lastError = failure
      firstDone()
      await backoff()
    }
  } catch (err) {
    if (!stop.aborted) ex.log(`static peer ${name}: ${errorMessage(err)}`)
  } finally {
    firstDone()
  }
}

/** A static-peer connection that lasted this long resets the redial backoff. */
const STABLE_CONNECTION_MS = 10_000

/** The peer an existing connection reaches at `addr` (e.g. one that dialled us first), if any. */
async function connectedPeerAt (node: Libp2p<any>, addr: Multiaddr): Promise<PeerId | undefined> {
  for (const conn of node.getConnections()) {
    if (conn.remoteAddr.decapsulateCode(P2P_CODE).equals(addr)) return conn.remotePeer
    try {
      const peer = await node.peerStore.get(conn.remotePeer)
      if (peer.addresses.some(a => a.multiaddr.decapsulateCode(P2P_CODE).equals(addr))) return conn.remotePeer
    } catch {
      // not in the peer store (yet): identify has not finished
    }
  }
  return undefined
}
const P2P_CODE = 421

function waitForDisconnect (node: Libp2p<any>, peer: PeerId, stop: AbortSignal): Promise<void> {
  return new Promise<void>(resolve => {
    const done = (): void => {
      node.removeEventListener('peer:disconnect', onDisconnect)
      stop.removeEventListener('abort', done)
      resolve()
    }
    const onDisconnect = (evt: CustomEvent<PeerId>): void => {
      if (evt.detail.equals(peer)) done()
    }
    node.addEventListener('peer:disconnect', onDisconnect)
    stop.addEventListener('abort', done, { once: true })
    if (stop.aborted || node.getConnections(peer).length === 0) done()
  })
}

/** Something that emits discovered peers, like `@libp2p/mdns`. */
export interface PeerSource {
  addEventListener: (type: 'peer', listener: (evt: CustomEvent<PeerInfo>) => void) => void
}

/**
 * libp2p 3 has no auto-dialer: dial the peers a discovery service reports
 * (again whenever they are re-announced while not connected), unless this
 * node is at `maxConnections`. createP2PNode wires mDNS through this.
 */
export function dialDiscoveredPeers (node: Libp2p<any>, discovery: PeerSource, maxConnections: number = DEFAULT_LIMITS.maxConnections): void {
  const ex = extras.get(node) ?? defaultExtras(node)
  const inFlight = new Set<string>()
  discovery.addEventListener('peer', (evt: CustomEvent<PeerInfo>) => {
    const { id, multiaddrs } = evt.detail
    const key = id.toString()
    if (ex.stopped.aborted || id.equals(node.peerId) || inFlight.has(key)) return
    if (node.getConnections(id).length > 0 || node.getConnections().length >= maxConnections) return
    inFlight.add(key)
    void (async () => {
      try {
        await node.peerStore.merge(id, { multiaddrs })
        // a signal of its own per dial: libp2p's dial queue adds listeners to
        // the signal it is given until the dial ends, and 20 neighbours
        // announced at once put 40 on one shared signal (Node then warns of
        // a listener leak, though every one is removed)
        await node.dial(id, { signal: AbortSignal.any([ex.stopped]) })
      } catch (err) {
        if (!ex.stopped.aborted) ex.log(`discovered peer ${key} not reachable: ${errorMessage(err)}`)
      } finally {
        inFlight.delete(key)
      }
    })()
  })
}

/** The IP address of a multiaddr (`/ip4/…` or `/ip6/…`), or undefined. */
export function addressIp (addr: Multiaddr): string | undefined {
  const first = addr.getComponents()[0]
  return first !== undefined && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined
}

/**
 * The connection gater: banned peer ids (both directions, `denyPeer`), banned
 * IP addresses (`denyAddress`, before the handshake), and inbound admission
 * control when a socket arrives, before any crypto (per-host cap counting
 * handshakes in flight, fair shares of pending slots and of the connection
 * table: admission.ts).
 */
function gater (init: P2PNodeInit, admission: InboundAdmission, encrypted: (maConn: MultiaddrConnection, peerId: PeerId) => void): ConnectionGater {
  const { denyPeer, denyAddress } = init
  const deny = (peerId: PeerId): boolean => {
    if (denyPeer === undefined) return false
    try {
      return denyPeer(peerId.toString())
    } catch {
      return true
    }
  }
  const addressDenied = (ip: string | undefined): boolean => {
    if (ip === undefined || denyAddress === undefined) return false
    try {
      return denyAddress(ip)
    } catch {
      return true
    }
  }
  // the per-host cap counts inbound only: our own dials to a host's peers (on
  // one machine, every peer is 127.0.0.1) must not use up its slots
  return {
    denyDialPeer: deny,
    denyDialMultiaddr: (addr: Multiaddr) => addressDenied(addressIp(addr)),
    denyInboundConnection: (maConn) => {
      return addressDenied(addressIp(maConn.remoteAddr)) || admission.admit(maConn)
    },
    denyInboundEncryptedConnection: (peerId, maConn) => { encrypted(maConn, peerId); return deny(peerId) },
    denyOutboundEncryptedConnection: (peerId, maConn) => { encrypted(maConn, peerId); return deny(peerId) },
    denyInboundUpgradedConnection: (peerId, maConn) => {
      admission.upgraded(maConn)
      return deny(peerId) || addressDenied(addressIp(maConn.remoteAddr))
    },
    denyOutboundUpgradedConnection: deny
  }
}

function resolveLimits (init: P2PNodeInit): P2PLimits {
  const limits: P2PLimits = { ...DEFAULT_LIMITS, ...init.limits }
  if (init.maxConnections !== undefined) limits.maxConnections = init.maxConnections
  for (const [k, v] of Object.entries(limits)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1 || !Number.isInteger(v)) {
      throw new UsageError(`limit ${k} must be a positive integer, got ${String(v)}`)
    }
  }
  if (limits.maxStreamWindowSize < 256 * 1024) throw new UsageError('limit maxStreamWindowSize must be at least 256 KiB')
  if (limits.maxStreamWindowSize > 2 ** 32 - 1) throw new UsageError('limit maxStreamWindowSize must fit in 32 bits')
  return limits
}

/** What the node passes to `@libp2p/mdns`. Throws {@link UsageError} for an interval below 1 s. */
export function mdnsOptions (init: Pick<P2PNodeInit, 'mdnsIntervalMs'>): { serviceTag: string, interval: number } {
  const ms = init.mdnsIntervalMs ?? MDNS_QUERY_INTERVAL_MS
  if (!Number.isInteger(ms) || ms < 1000) throw new UsageError(`mdnsIntervalMs must be an integer ≥ 1000, got ${String(ms)}`)
  return { serviceTag: MDNS_SERVICE_TAG, interval: ms }
}

function parseAddrs (addrs: string[], what: string): Multiaddr[] {
  return addrs.map(text => {
    let addr: Multiaddr
    try {
      addr = multiaddr(text.trim())
    } catch (err) {
      throw new UsageError(`invalid ${what} address "${text}": ${(err as Error).message} (expected e.g. /ip4/0.0.0.0/tcp/${DEFAULT_PORT})`)
    }
    const names = addr.getComponents().map(c => c.name)
    if (names.length !== 2 || !['ip4', 'ip6'].includes(names[0] ?? '') || names[1] !== 'tcp') {
      throw new UsageError(`unsupported ${what} address "${text}": only /ip4/<addr>/tcp/<port> and /ip6/<addr>/tcp/<port> are supported`)
    }
    return addr
  })
}

/** Map libp2p's listen failure (it flattens the socket errors into a message) to our errors. */
function translateStartError (err: unknown): unknown {
  const msg = errorMessage(err)
  const inUse = /EADDRINUSE[^\n]*?(\S+):(\d+)\s*$/m.exec(msg)
  if (inUse !== null || msg.includes('EADDRINUSE')) {
    const port = inUse?.[2] ?? '?'
    const e = new PortInUseError(`port ${port} is already in use (another doswarm node?); choose another with --listen /ip4/0.0.0.0/tcp/PORT`)
    ;(e as { cause?: unknown }).cause = err
    return e
  }
  const other = /(EADDRNOTAVAIL|EACCES|EPERM)[^\n]*/.exec(msg)
  if (other !== null) {
    const hint = other[1] === 'EADDRNOTAVAIL'
      ? 'that address is not on this machine'
      : 'permission denied (ports below 1024 need privileges)'
    const e = new UsageError(`cannot listen: ${other[0].trim()} — ${hint}`)
    ;(e as { cause?: unknown }).cause = err
    return e
  }
  return err
}

function isSelfDial (err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name
  return name === 'InvalidPeerIdError' && /self/i.test(errorMessage(err))
}

function errorMessage (err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

function defaultExtras (node: Libp2p<any>): NodeExtras {
  const stop = new AbortController()
  if (node.status !== 'started') stop.abort()
  node.addEventListener('stop', () => { stop.abort() }, { once: true })
  const logger = node.logger.forComponent('doswarm:p2p')
  const ex: NodeExtras = { log: m => { logger(m) }, redial: { minDelayMs: 1000, maxDelayMs: 5000 }, stopped: stop.signal }
  extras.set(node, ex)
  return ex
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) { resolve(); return }
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
