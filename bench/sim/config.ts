/**
 * Parameters of one simulated run. Protocol constants default to the real
 * ones, imported from src/swarm, so the sim follows the code as it is.
 */
import { DEFAULT_CLAIM_TTL_MS, DEFAULT_HTTP_DELAY_MS, DEFAULT_MAX_SETTLE_MS, DEFAULT_SETTLE_MS } from '../../src/swarm/origin-coord.js'
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/swarm/peer-link.js'
import { DEFAULT_LIMITS } from '../../src/node/libp2p.js'
import { DEFAULT_MAX_LINKS_PER_CONTENT } from '../../src/swarm/swarm.js'
import { DEFAULT_MAX_CONCURRENT_UPLOADS } from '../../src/swarm/upload.js'

export interface SimConfig {
  /** downloading nodes */
  n: number
  fileBytes: number
  pieceBytes: number
  /** per-node uplink / downlink, Mbit/s */
  nodeUpMbps: number
  nodeDownMbps: number
  /** the HTTP origin's uplink, Mbit/s */
  originUpMbps: number
  /** one-way latency between nodes (every control message and piece pays it once), ms */
  latencyMs: number
  /** one-way latency to the origin (an HTTP request waits this before its first byte), ms */
  originLatencyMs: number
  /** dial → link ready (TCP, Noise, yamux, HELLO both ways), ms; each dial adds up to as much again at random */
  handshakeMs: number
  /** swarm links per content per node (real: DEFAULT_MAX_LINKS_PER_CONTENT) */
  maxLinks: number
  /**
   * connections per node, dials in progress included (real: libp2p's
   * `maxConnections`, DEFAULT_LIMITS 200). A dial to a node at the limit is
   * refused (libp2p refuses inbound connections there) and a node at the
   * limit does not dial (libp2p would prune the surplus connection it opened:
   * one without a link has no streams). Infinity: no limit (the model before
   * 2 Dec 2026, where peer exchange made the connection graph nearly complete).
   */
  maxConnections: number
  /** peers a node dials on start: the ones mDNS told it about, up to libp2p's maxConnections (200) */
  dialCandidates: number
  /**
   * 'mdns': every node dials `dialCandidates` random nodes on start (no static peers).
   * 'static': node 0 is every other node's one configured static peer
   * (`expectPeers`: settling waits for it to answer); the rest is found through
   * PEERS — as the loopback flash-crowd benchmark runs it.
   */
  discovery: 'mdns' | 'static'
  /** start times uniform in [0, startSpreadMs]; 0 is a flash crowd */
  startSpreadMs: number
  seed: number
  /**
   * 'real': the real coordinator learns every downloading peer (as session.ts does).
   * 'blind': it is never told of any downloader, so every node thinks it owns
   * every block — a broken ownership rule (CLAIMs and their clash rule still work).
   * 'off': no origin coordination at all (no claims, no ownership; HTTP once
   * settled when no linked peer has the piece), to show the sim tells them apart.
   */
  ownership: 'real' | 'blind' | 'off'
  uploadSlots: number
  requestTimeoutMs: number
  settleMs: number
  maxSettleMs: number
  httpDelayMs: number
  claimTtlMs: number
  /** stop the run at this virtual time even if nodes are still downloading, ms */
  maxTimeMs: number
  /** cross-check every mayFetch shortcut against the real OriginCoordinator.mayFetch (slow) */
  verify: boolean
}

export const MiB = 1024 * 1024

export function defaultConfig (over: Partial<SimConfig> = {}): SimConfig {
  return {
    n: 10,
    fileBytes: 256 * MiB,
    pieceBytes: MiB,
    nodeUpMbps: 100,
    nodeDownMbps: 100,
    originUpMbps: 50,
    latencyMs: 1,
    originLatencyMs: 10,
    handshakeMs: 20,
    maxLinks: DEFAULT_MAX_LINKS_PER_CONTENT,
    maxConnections: DEFAULT_LIMITS.maxConnections,
    dialCandidates: 200,
    discovery: 'mdns',
    startSpreadMs: 0,
    seed: 1,
    ownership: 'real',
    uploadSlots: DEFAULT_MAX_CONCURRENT_UPLOADS,
    requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
    settleMs: DEFAULT_SETTLE_MS,
    maxSettleMs: DEFAULT_MAX_SETTLE_MS,
    httpDelayMs: DEFAULT_HTTP_DELAY_MS,
    claimTtlMs: DEFAULT_CLAIM_TTL_MS,
    maxTimeMs: 3_600_000,
    verify: false,
    ...over
  }
}

/** Mbit/s → bytes per ms. */
export function bytesPerMs (mbps: number): number { return mbps * 1e6 / 8 / 1000 }

/**
 * Lower bound on the time to last completion (flash crowd), ms:
 * max(S/d, S/u_origin, N·S/(u_origin + N·u_peer)).
 */
export function lowerBoundMs (c: Pick<SimConfig, 'n' | 'fileBytes' | 'nodeUpMbps' | 'nodeDownMbps' | 'originUpMbps'>): number {
  const S = c.fileBytes
  const d = bytesPerMs(c.nodeDownMbps)
  const uo = bytesPerMs(c.originUpMbps)
  const up = bytesPerMs(c.nodeUpMbps)
  return Math.max(S / d, S / uo, c.n * S / (uo + c.n * up))
}
