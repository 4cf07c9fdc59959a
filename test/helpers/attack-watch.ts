/**
 * What every resource-exhaustion test (THREATS R1–R9) watches beside the
 * attack: event-loop delay (`perf_hooks.monitorEventLoopDelay`), RSS growth
 * (peak over a baseline, sampled every 25 ms), and an honest download from
 * the victim that runs while the attack goes on.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import type { DoswarmNode } from '../../src/node/node.js'
import { swarmFixture, type SwarmFixture } from './swarm-fixture.js'

export interface WatchResult {
  /** event-loop delay p99 and max, ms */
  p99Ms: number
  maxMs: number
  /** peak RSS minus the baseline, MiB */
  rssGrowthMiB: number
}

export interface Watch { stop: () => WatchResult }

/** Start watching the process; `stop()` returns the figures. */
export function watchProcess (): Watch {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 25)
  return {
    stop: () => {
      clearInterval(timer)
      h.disable()
      peak = Math.max(peak, process.memoryUsage.rss())
      return { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6, rssGrowthMiB: (peak - base) / (1024 * 1024) }
    }
  }
}

export interface HonestSwarm {
  fx: SwarmFixture
  /** the victim: a node that holds the whole file and serves it */
  seeder: DoswarmNode
  /** Start a fresh node that downloads from the seeder only (HTTP held back); resolves when it has the verified file. */
  download: (label: string, extra?: { peers?: string[] }) => Promise<{ ms: number, bytesFromPeers: number, ok: boolean }>
}

/** A seeder with an 8 MiB file and a way to run honest downloads from it. */
export async function honestSwarm (opts: { size?: number, seederLimits?: Parameters<SwarmFixture['node']>[0] } = {}): Promise<HonestSwarm> {
  const fx = await swarmFixture({ size: opts.size ?? 8 * 1024 * 1024, pieceSize: 256 * 1024 })
  const seeder = await fx.node(opts.seederLimits ?? {})
  await seeder.seed(fx.manifest, fx.file)
  return {
    fx,
    seeder,
    download: async (label, extra = {}) => {
      // HTTP only after 60 s: the download measures what the victim still serves
      const node = await fx.node({ peers: extra.peers ?? [fx.addr(seeder)], httpDelayMs: 60_000, settleMs: 60_000 })
      const out = join(fx.dir, `honest-${label}.bin`)
      const t0 = performance.now()
      const r = await node.download(fx.manifest, { out })
      const ms = performance.now() - t0
      const ok = await fx.same(out)
      await node.stop()
      return { ms, bytesFromPeers: r.bytesFromPeers, ok }
    }
  }
}

/** One line for t.diagnostic / bench output. */
export function describe (w: WatchResult): string {
  return `event-loop delay p99 ${w.p99Ms.toFixed(1)} ms (max ${w.maxMs.toFixed(0)} ms), RSS growth ${w.rssGrowthMiB.toFixed(1)} MiB`
}
