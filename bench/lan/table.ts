/** The Markdown summary table of LAN benchmark runs (also used by docs/benchmarks.md). */
import { fmt, markdownTable } from '../lib/report.js'
import type { RunResult } from './scenarios.js'

const ORDER = ['doswarm/flash', 'doswarm/staggered', 'doswarm/late', 'doswarm/churn', 'doswarm/corrupt', 'http/flash', 'webtorrent/flash']

/** A run's identity in a results file: system/scenario, plus /daemon for daemon mode (a newer run with the same key replaces the older). */
export function runKey (r: Pick<RunResult, 'system' | 'scenario' | 'mode'>): string {
  return `${r.system}/${r.scenario}${r.mode === 'daemon' ? '/daemon' : ''}`
}

export function label (r: Pick<RunResult, 'system' | 'scenario' | 'mode'>): string {
  if (r.system === 'http') return 'HTTP-only (curl)'
  if (r.system === 'webtorrent') return 'WebTorrent'
  return `doswarm ${r.scenario}${r.mode === 'daemon' ? ' (daemon)' : ''}`
}

export function sortRuns<T extends Pick<RunResult, 'system' | 'scenario' | 'mode'>> (runs: readonly T[]): T[] {
  const rank = (r: T): number => {
    const i = ORDER.indexOf(`${r.system}/${r.scenario}`)
    // a daemon-mode run right after the get-mode run of the same scenario
    return 2 * (i < 0 ? ORDER.length : i) + (r.mode === 'daemon' ? 1 : 0)
  }
  return [...runs].sort((a, b) => rank(a) - rank(b))
}

export function summaryTable (runs: readonly RunResult[]): string {
  return markdownTable(
    ['run', 'N', 'origin copies', 'relayed to the LAN', 'on the origin link', 'kept by the nodes', 'last completion s', 'lower bound s', 'ratio', 'CPU s / GiB', 'peak RSS MB, median / max', 'failed', 'notes'],
    sortRuns(runs).map(r => {
      const notes: string[] = []
      if (r.late !== undefined) notes.push(`late joiner: ${fmt(r.late.ownTimeS, 1)} s, origin sent ${fmt(r.late.originBytesDuring / 1e6, 1)} MB meanwhile`)
      const churned = r.nodes.filter(x => x.role === 'churned')
      if (churned.length > 0) notes.push(`${churned.length} of ${r.n + churned.length} killed at ${fmt((churned[0]?.killAtMs ?? NaN) / 1000, 1)} s (${churned.filter(x => x.ok).length} of them had finished)`)
      const evil = r.extra?.maliciousPeer as { badPieces?: number, sessions?: number } | undefined
      if (evil !== undefined) notes.push(`malicious peer sent ${fmt(evil.badPieces)} bad pieces`)
      if (r.daemons !== undefined) notes.push(`daemons up ${fmt(r.daemons.upS, 1)} s, ${Number.isFinite(r.daemons.meshedS) ? `all connected at ${fmt(r.daemons.meshedS, 1)} s` : `not all connected by ${fmt(r.daemons.warmupS, 1)} s`} before the job`)
      return [label(r), String(r.n), fmt(r.originCopies, 3), fmt(r.originRelayedCopies, 3), fmt(r.originWireCopies, 3), fmt(r.originKeptCopies ?? r.nodes.reduce((s, x) => s + (x.bytesFromHttp ?? NaN), 0) / r.size, 3), fmt(r.lastCompletionS, 1), fmt(r.lowerBoundS, 1), fmt(r.ratioToLowerBound, 2),
        fmt(r.cpuSecondsPerGiB, 1), `${fmt(r.peakRssMedianMB)} / ${fmt(r.peakRssMaxMB)}`, String(r.failures), notes.join('; ')]
    })
  )
}
