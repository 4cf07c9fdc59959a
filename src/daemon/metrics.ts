/**
 * Prometheus metrics of one daemon (its own registry: no global state, two
 * daemons in one process stay apart). Values are read at scrape time.
 */
import { Gauge, Registry } from 'prom-client'
import type { JobInfo, StatsInfo } from './api-types.js'

export function createMetrics (read: () => { stats: StatsInfo, jobs: JobInfo[] }): Registry {
  const registry = new Registry()
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    // counters that live in the stats book are exposed as gauges fed from it (they survive restarts)
    const g: Gauge = new Gauge({ name, help, labelNames, registers: [registry], collect () { collect(g) } })
  }
  gauge('doswarm_downloaded_bytes_total', 'Bytes downloaded since the state directory was created, by source', ['source'], g => {
    const { total } = read().stats
    g.set({ source: 'http' }, total.bytesFromHttp)
    g.set({ source: 'peers' }, total.bytesFromPeers)
  })
  gauge('doswarm_uploaded_bytes_total', 'Bytes uploaded to peers since the state directory was created', [], g => { g.set(read().stats.total.bytesToPeers) })
  gauge('doswarm_peer_caching_percent', 'Share of downloaded bytes that came from peers, this month (PercentPeerCaching)', [], g => { g.set(read().stats.month.percentPeerCaching) })
  gauge('doswarm_pieces_rejected_total', 'Pieces that failed their hash', [], g => { g.set(read().stats.total.piecesRejected) })
  gauge('doswarm_peers_banned_total', 'Peers banned for bad pieces or protocol violations', [], g => { g.set(read().stats.total.peersBanned) })
  gauge('doswarm_downloads_total', 'Completed downloads', [], g => { g.set(read().stats.total.downloads) })
  gauge('doswarm_connections', 'Open peer connections', [], g => { g.set(read().stats.connections) })
  gauge('doswarm_cache_bytes', 'Bytes held in the content cache', [], g => { g.set(read().stats.cache.bytes) })
  gauge('doswarm_jobs', 'Download jobs by state', ['state'], g => {
    const counts = new Map<string, number>()
    for (const j of read().jobs) counts.set(j.state, (counts.get(j.state) ?? 0) + 1)
    g.reset()
    for (const state of ['queued', 'downloading', 'paused', 'complete', 'failed', 'cancelled']) g.set({ state }, counts.get(state) ?? 0)
  })
  return registry
}
