/**
 * One simulated run: N nodes and an HTTP origin on a FlowNet, started at
 * their start times, linked by mDNS-style discovery dials and peer exchange,
 * run in virtual time until every node has the file.
 */
import { bytesPerMs, lowerBoundMs, type SimConfig } from './config.js'
import { Engine } from './engine.js'
import { hashStats, installHashMemo } from './hash-memo.js'
import { FlowNet } from './net.js'
import { SimNode, type World, type WorldCounters } from './node.js'
import { sample, seeded } from './rng.js'

export interface RunResult {
  n: number
  fileBytes: number
  pieceBytes: number
  pieces: number
  seed: number
  ownership: SimConfig['ownership']
  completed: number
  failed: number
  /** origin bytes sent (aborted ranges included) ÷ file size */
  originCopies: number
  /** origin bytes the nodes kept ÷ file size */
  originCopiesUsed: number
  /** virtual ms from the first start to the last completion */
  lastCompletionMs: number
  lowerBoundMs: number
  ratioToBound: number
  medianCompletionMs: number
  p90CompletionMs: number
  /** per-node completion times (ms after its own start), sorted */
  completionMs: number[]
  /** links per node at the end: min / mean / max */
  links: { min: number, mean: number, max: number }
  /** connections per node at the end (links included): mean / max */
  connections: { mean: number, max: number }
  /** largest number of downloaders a node's coordinator knew at once (mean over nodes / max) */
  view: { mean: number, max: number }
  heardPeakMax: number
  counters: WorldCounters
  /** rendezvous hashes the real coordinator asked for, and those actually computed (rest memoised) */
  hashes: { calls: number, computed: number }
  events: number
  wallMs: number
  /** once a virtual second: origin copies so far, share of all pieces held, nodes done, nodes settled, request timeouts so far */
  timeline: TimelinePoint[]
  config: SimConfig
}

export interface TimelinePoint { t: number, originCopies: number, held: number, done: number, settled: number, timeouts: number, flows: number, uploaders: number }

/** Options that do not change a run's outcome. */
export interface SimOptions {
  /** called once a virtual second with the latest timeline point (progress, memory sampling) */
  onTick?: (p: TimelinePoint, engine: Engine, counters: WorldCounters) => void
}

export function simulate (cfg: SimConfig, opts: SimOptions = {}): RunResult {
  installHashMemo()
  const wallStart = performance.now()
  const h0 = { ...hashStats }
  const rng = seeded(cfg.seed)
  const engine = new Engine()
  const up: number[] = []
  const down: number[] = []
  for (let i = 0; i < cfg.n; i++) { up.push(bytesPerMs(cfg.nodeUpMbps)); down.push(bytesPerMs(cfg.nodeDownMbps)) }
  up.push(bytesPerMs(cfg.originUpMbps)); down.push(Infinity)
  const net = new FlowNet(engine, up, down)
  const pieceCount = Math.ceil(cfg.fileBytes / cfg.pieceBytes)
  const counters: WorldCounters = { messages: 0, mayFetchCalls: 0, mayFetchReal: 0, timeouts: 0, duplicatePieces: 0, httpAborts: 0, dials: 0, dialsLinked: 0, dialsRefused: 0 }
  let done = 0
  const staticBackoff = new Map<number, number>()
  let failed = 0
  const world: World = {
    engine,
    net,
    cfg,
    nodes: [],
    origin: cfg.n,
    pieceCount,
    counters,
    pieceLen: i => i === pieceCount - 1 ? cfg.fileBytes - cfg.pieceBytes * (pieceCount - 1) : cfg.pieceBytes,
    dial: (from, to) => {
      const b = world.nodes[to]
      if (from.connected.has(to)) return
      // libp2p maxConnections: the dialled node refuses; a full dialler would prune the new connection at once
      if (from.connected.size >= cfg.maxConnections || b.connected.size >= cfg.maxConnections) { counters.dialsRefused++; return }
      from.connected.add(to)
      b.connected.add(from.idx)
      counters.dials++
      engine.after(cfg.handshakeMs * (1 + rng()), () => {
        if (!b.started) {
          from.connected.delete(to)
          b.connected.delete(from.idx)
          // a static peer is redialled until it answers: 1 s, doubling, at most 5 s (src/node/libp2p.ts)
          if (cfg.discovery === 'static' && to === 0) {
            const delay = staticBackoff.get(from.idx) ?? 1000
            staticBackoff.set(from.idx, Math.min(delay * 2, 5000))
            engine.after(delay, () => { world.dial(from, to) })
          }
          return
        }
        // both sides refuse a new link for this content once they have maxLinks (swarm.#open / #inbound)
        if (from.links.size >= cfg.maxLinks || b.links.size >= cfg.maxLinks || from.links.has(to)) return
        counters.dialsLinked++
        from.addLink(b, true)
        b.addLink(from, false)
      })
    },
    completed: () => { done++ },
    failed: () => { failed++ }
  }
  const ids = new Set<string>()
  for (let i = 0; i < cfg.n; i++) {
    let id: string
    do { id = peerLikeId(rng) } while (ids.has(id))
    ids.add(id)
    const startAt = cfg.startSpreadMs > 0 ? rng() * cfg.startSpreadMs : 0
    world.nodes.push(new SimNode(world, i, id, startAt, rng))
  }
  for (const node of world.nodes) {
    const dials = cfg.discovery === 'static' ? (node.idx === 0 ? [] : [0]) : sample(rng, cfg.n, cfg.dialCandidates, node.idx)
    node.expectPeers = cfg.discovery === 'static' && node.idx !== 0
    engine.at(node.startAt, () => { node.start(dials) })
  }
  const timeline: TimelinePoint[] = []
  engine.every(1000, 0, () => {
    let pieces = 0
    let settled = 0
    let flows = 0
    let uploaders = 0
    for (const x of world.nodes) {
      pieces += x.haveCount
      if (x.settledAt !== undefined) settled++
      const u = net.upFlows(x.idx)
      flows += u
      if (u > 0) uploaders++
    }
    const point = { t: engine.now, originCopies: net.sentBy[cfg.n] / cfg.fileBytes, held: pieces / (pieceCount * cfg.n), done, settled, timeouts: counters.timeouts, flows, uploaders }
    timeline.push(point)
    opts.onTick?.(point, engine, counters)
    return done + failed < cfg.n
  })
  engine.run(cfg.maxTimeMs, () => done + failed === cfg.n)
  const wallMs = performance.now() - wallStart

  const times = world.nodes.filter(x => x.completeAt !== undefined).map(x => (x.completeAt as number) - x.startAt).sort((a, b) => a - b)
  const last = Math.max(0, ...world.nodes.map(x => x.completeAt ?? engine.now))
  const bound = lowerBoundMs(cfg)
  const linkCounts = world.nodes.map(x => x.links.size)
  const used = world.nodes.reduce((s, x) => s + x.bytesFromHttp, 0)
  return {
    n: cfg.n,
    fileBytes: cfg.fileBytes,
    pieceBytes: cfg.pieceBytes,
    pieces: pieceCount,
    seed: cfg.seed,
    ownership: cfg.ownership,
    completed: done,
    failed,
    originCopies: net.sentBy[cfg.n] / cfg.fileBytes,
    originCopiesUsed: used / cfg.fileBytes,
    lastCompletionMs: last,
    lowerBoundMs: bound,
    ratioToBound: last / bound,
    medianCompletionMs: quantile(times, 0.5),
    p90CompletionMs: quantile(times, 0.9),
    completionMs: times.map(t => Math.round(t)),
    links: { min: Math.min(...linkCounts), mean: linkCounts.reduce((a, b) => a + b, 0) / cfg.n, max: Math.max(...linkCounts) },
    connections: { mean: world.nodes.reduce((s, x) => s + x.connected.size, 0) / cfg.n, max: Math.max(...world.nodes.map(x => x.connected.size)) },
    view: { mean: world.nodes.reduce((s, x) => s + x.viewPeak, 0) / cfg.n, max: Math.max(...world.nodes.map(x => x.viewPeak)) },
    heardPeakMax: Math.max(...world.nodes.map(x => x.heardPeak)),
    counters,
    hashes: { calls: hashStats.calls - h0.calls, computed: hashStats.misses - h0.misses },
    events: engine.executed,
    wallMs,
    timeline,
    config: cfg
  }
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** An id shaped like a libp2p Ed25519 peer id ("12D3KooW" + 44 base58 chars). */
function peerLikeId (r: () => number): string {
  let s = '12D3KooW'
  for (let i = 0; i < 44; i++) s += B58[Math.floor(r() * 58)]
  return s
}

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}
