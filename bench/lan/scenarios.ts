/**
 * One measured run on the emulated LAN: which hosts start when, which leave
 * (churn), who joins late, and the figures of the run — origin copies, time
 * to the last completion against the lower bound, completion CDF, CPU
 * seconds per GiB, peak RSS.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { launch, record, type Content, type Launched, type NodeRecord, type System } from './hosts.js'
import type { LanHost } from './netns.js'
import { max, median } from '../lib/report.js'
import { sumCutStats, type HttpCutStats } from '../../src/origin/cut.js'

export type Scenario = 'flash' | 'staggered' | 'late' | 'churn' | 'corrupt'
/** How doswarm runs on each host: a `doswarm get` process per download, or a job submitted to the host's daemon. */
export type RunMode = 'get' | 'daemon'

/** Reads the origin's body-byte counter (fresh within ~250 ms). */
export interface OriginCounter {
  bytesSent: () => number
  requests: () => number
  /** bytes sent on the origin's link (tc counter of its upload), when known */
  wireBytes?: () => number
  /** bytes the relay in front of the origin handed on towards the LAN (headers included), when known */
  relayedBytes?: () => number
  /** wait until the counter has been refreshed after now */
  settle: () => Promise<void>
}

export interface Links { hostMbit: number, originMbit: number }

export interface PlanEntry {
  host: LanHost
  index: number
  /** ms after t0; undefined = after every other node completed (late joiner) */
  startAtMs?: number
  /** SIGKILL at this many ms after t0 (churn) */
  killAtMs?: number
  peers?: string[]
}

export interface RunSpec {
  system: System
  scenario: Scenario
  plan: PlanEntry[]
  dir: string
  content: Content
  links: Links
  timeoutMs: number
  seed: boolean
  wtNode?: string
  origin: OriginCounter
  /** extra facts to store with the run (e.g. the malicious peer's counters) */
  notes?: () => Record<string, unknown>
  /** keep each doswarm process's stderr in this directory as `<system>-<scenario>[-daemon]-<namespace>.log` */
  logDir?: string
  /** 'get' (default): one `doswarm get` process per host; 'daemon': jobs submitted to a `doswarm serve` per host (daemons.ts) */
  mode?: RunMode
}

export interface RunResult {
  system: System
  scenario: Scenario
  /** absent in files from before daemon mode existed: 'get' */
  mode?: RunMode
  /** daemon mode: the daemons before the job was submitted */
  daemons?: {
    /** s from starting the daemons until every API answered */
    upS: number
    /** s from starting the daemons until each had a connection to every other one (NaN: not within the warm-up) */
    meshedS: number
    /** s from starting the daemons to the first submission */
    warmupS: number
    /** distinct peers each daemon was connected to when the job was submitted */
    connectionsAtSubmit: number[]
  }
  /** nodes expected to complete (churned and late nodes excluded) */
  n: number
  size: number
  /** body bytes the origin server wrote to its sockets */
  originBytes: number
  originCopies: number
  /** bytes that left the origin host on its link (tc, whole frames incl. headers); NaN if not measured */
  originWireBytes: number
  originWireCopies: number
  /**
   * bytes the origin namespace's relay handed to its LAN sockets, ÷ file size:
   * what the origin wrote minus what sat in the loopback hop when clients
   * aborted responses (absent in older files)
   */
  originRelayedCopies?: number
  /** Σ bytesFromHttp of every node ÷ file size: origin bytes the nodes kept (verified pieces) */
  originKeptCopies?: number
  /**
   * Σ over the nodes of their HTTP requests cut short, by why (requests,
   * bytes received and thrown away, bytes of the range never read), and of
   * whole origin pieces a peer had delivered first (absent in older files)
   */
  httpCut?: HttpCutStats
  httpBytesDuplicate?: number
  originRequests: number
  /** t0 → last completion of the nodes counted in n, s */
  lastCompletionS: number
  lowerBoundS: number
  ratioToLowerBound: number
  /** all CPU seconds of all client processes ÷ GiB delivered to verified outputs */
  cpuSecondsPerGiB: number
  peakRssMaxMB: number
  peakRssMedianMB: number
  failures: number
  /** completion times (s since t0) of the counted nodes, sorted; NaN = did not complete */
  cdfS: number[]
  /**
   * [s since t0, origin body bytes so far in this run, bytes the relay handed
   * on to the origin's link so far (null when not known)], every 500 ms. The
   * two differ by what the relay buffers: the server writes as fast as the
   * relay reads, the link drains at its rate.
   */
  originTimeline: Array<[number, number, number | null]>
  late?: { completionS: number, ownTimeS: number, originBytesDuring: number, bytesFromHttp?: number, bytesFromPeers?: number }
  extra?: Record<string, unknown>
  nodes: NodeRecord[]
  wallS: number
}

const GiB = 1024 ** 3

/**
 * Lower bound on the time to the last completion when `n` hosts (download
 * and upload `hostMbit`) fetch `size` bytes that start only at the origin
 * (upload `originMbit`): max(S/d, S/u_origin, N·S/(u_origin + N·u_peer)).
 */
export function lowerBoundS (size: number, n: number, links: Links): number {
  const bits = size * 8
  const d = links.hostMbit * 1e6
  const uo = links.originMbit * 1e6
  return Math.max(bits / d, bits / uo, (n * bits) / (uo + n * links.hostMbit * 1e6))
}

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Wait for all of `ps`, or until performance.now() reaches `deadline`. */
export async function withDeadline (ps: Array<Promise<unknown>>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<void>(resolve => { timer = setTimeout(resolve, Math.max(0, deadline - performance.now())) })
  await Promise.race([Promise.all(ps), expired])
  clearTimeout(timer) // else the pending timer keeps the process alive until the deadline
}

/** The origin's counters from now on, and its bytes sampled every 500 ms into `timeline` until `stop()`. */
export interface OriginWatch {
  readonly t0: number
  readonly timeline: Array<[number, number, number | null]>
  stop: () => void
  /** the counters' growth since the watch began */
  delta: () => { originBytes: number, originWireBytes: number, originRelayedBytes: number, originRequests: number }
}

export async function watchOrigin (origin: RunSpec['origin']): Promise<OriginWatch> {
  await origin.settle()
  const bytes0 = origin.bytesSent()
  const req0 = origin.requests()
  const wire0 = origin.wireBytes?.() ?? NaN
  const relayed0 = origin.relayedBytes?.() ?? NaN
  const t0 = performance.now()
  const timeline: Array<[number, number, number | null]> = []
  const sampler = setInterval(() => {
    const relayed = (origin.relayedBytes?.() ?? NaN) - relayed0
    timeline.push([Math.round(performance.now() - t0) / 1000, origin.bytesSent() - bytes0, Number.isFinite(relayed) ? relayed : null])
  }, 500)
  return {
    t0,
    timeline,
    stop: () => { clearInterval(sampler) },
    delta: () => ({
      originBytes: origin.bytesSent() - bytes0,
      originWireBytes: (origin.wireBytes?.() ?? NaN) - wire0,
      originRelayedBytes: (origin.relayedBytes?.() ?? NaN) - relayed0,
      originRequests: origin.requests() - req0
    })
  }
}

export async function runScenario (spec: RunSpec): Promise<RunResult> {
  const { origin, content } = spec
  const watch = await watchOrigin(origin)
  const { t0, timeline } = watch
  const deadline = t0 + spec.timeoutMs
  const launched = new Map<PlanEntry, Launched>()
  const start = (p: PlanEntry): Launched => {
    const l = launch({
      system: spec.system, host: p.host, index: p.index, dir: spec.dir, content, timeoutMs: Math.max(1000, deadline - performance.now() + 30_000),
      seed: spec.seed, ...(p.peers !== undefined ? { peers: p.peers } : {}), ...(spec.wtNode !== undefined ? { wtNode: spec.wtNode } : {})
    }, t0)
    launched.set(p, l)
    return l
  }
  const timers: NodeJS.Timeout[] = []
  const main = spec.plan.filter(p => p.startAtMs !== undefined)
  const late = spec.plan.filter(p => p.startAtMs === undefined)
  const counted = main.filter(p => p.killAtMs === undefined)
  const started = main.map(async p => {
    await sleep(p.startAtMs ?? 0)
    const l = start(p)
    if (p.killAtMs !== undefined) {
      timers.push(setTimeout(() => { l.killed = true; l.child.signal('SIGKILL') }, Math.max(0, p.killAtMs - (p.startAtMs ?? 0))))
    }
    return l
  })
  const all = await Promise.all(started)
  await withDeadline(counted.map(p => (launched.get(p) as Launched).done), deadline)
  let lateInfo: RunResult['late']
  const lateLaunched: Launched[] = []
  if (late.length > 0) {
    await origin.settle()
    const before = origin.bytesSent()
    for (const p of late) lateLaunched.push(start(p))
    await withDeadline(lateLaunched.map(l => l.done), deadline)
    await origin.settle()
    lateInfo = { completionS: NaN, ownTimeS: NaN, originBytesDuring: origin.bytesSent() - before }
  }
  watch.stop()
  for (const t of timers) clearTimeout(t)
  // stop the seeders (SIGINT = clean stop) and whatever is still running past the deadline
  const everyone = [...all, ...lateLaunched]
  for (const l of everyone) l.child.signal(performance.now() > deadline ? 'SIGKILL' : 'SIGINT')
  const killer = setTimeout(() => { for (const l of everyone) l.child.signal('SIGKILL') }, 15_000)
  const results = await Promise.all(everyone.map(async l => await l.child.exited))
  clearTimeout(killer)
  await origin.settle()
  const { originBytes, originWireBytes, originRequests } = watch.delta()
  const nodes: NodeRecord[] = []
  for (const [i, l] of everyone.entries()) {
    const completion = await l.done // settled: the process has exited
    const p = [...launched.entries()].find(([, v]) => v === l)?.[0]
    const role: NodeRecord['role'] = p?.startAtMs === undefined ? 'late' : p.killAtMs !== undefined ? 'churned' : 'node'
    const rec = await record(l, results[i] as (typeof results)[number], completion, role)
    if (spec.logDir !== undefined) await keepLog(spec, rec.ns, (results[i] as (typeof results)[number]).stderr)
    if (p?.killAtMs !== undefined) rec.killAtMs = p.killAtMs
    if (!rec.ok && role !== 'churned') process.stderr.write(`  ${spec.system}/${spec.scenario} ${rec.ns}: ${rec.error ?? 'failed'}\n`)
    nodes.push(rec)
    await rm(l.out, { force: true })
  }
  await rm(spec.dir, { recursive: true, force: true })
  const { originRelayedBytes } = watch.delta()
  return summarize(spec, { nodes, originBytes, originWireBytes, originRelayedBytes, originRequests, timeline, lateInfo, wallS: (performance.now() - t0) / 1000 })
}

/** Write one process's stderr into the run's log directory. */
export async function keepLog (spec: Pick<RunSpec, 'logDir' | 'system' | 'scenario' | 'mode'>, ns: string, text: string): Promise<void> {
  if (spec.logDir === undefined) return
  await mkdir(spec.logDir, { recursive: true })
  await writeFile(join(spec.logDir, `${spec.system}-${spec.scenario}${spec.mode === 'daemon' ? '-daemon' : ''}-${ns}.log`), text)
}

/** What a run measured, before it is summarised. */
export interface RunMeasurements {
  nodes: NodeRecord[]
  originBytes: number
  originWireBytes: number
  originRelayedBytes: number
  originRequests: number
  timeline: Array<[number, number, number | null]>
  lateInfo: RunResult['late'] | undefined
  wallS: number
  /** daemon mode: facts about the daemons before the job (warm-up, connections) */
  daemons?: RunResult['daemons']
}

/** The run's figures from its node records and origin counters (shared by the `get` and daemon modes). */
export function summarize (spec: Pick<RunSpec, 'system' | 'scenario' | 'content' | 'links' | 'notes' | 'mode'>, m: RunMeasurements): RunResult {
  const { content } = spec
  const { nodes, originBytes, originWireBytes, lateInfo } = m
  const countedNodes = nodes.filter(x => x.role === 'node')
  const lateNode = nodes.find(x => x.role === 'late')
  if (lateInfo !== undefined && lateNode !== undefined) {
    lateInfo.completionS = lateNode.completionMs / 1000
    lateInfo.ownTimeS = (lateNode.completionMs - lateNode.startMs) / 1000
    if (lateNode.bytesFromHttp !== undefined) lateInfo.bytesFromHttp = lateNode.bytesFromHttp
    if (lateNode.bytesFromPeers !== undefined) lateInfo.bytesFromPeers = lateNode.bytesFromPeers
  }
  const cdfS = countedNodes.map(x => x.completionMs / 1000).sort((a, b) => (Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a - b))
  const lastStartS = max(countedNodes.map(x => x.startMs)) / 1000
  const n = countedNodes.length
  const lb = Math.max(lowerBoundS(content.size, n, spec.links), lastStartS + (content.size * 8) / (spec.links.hostMbit * 1e6))
  const delivered = nodes.filter(x => x.ok).length * content.size
  const cpu = nodes.reduce((s, x) => s + (x.cpuSeconds ?? 0), 0)
  const lastCompletionS = countedNodes.some(x => !Number.isFinite(x.completionMs)) ? NaN : max(countedNodes.map(x => x.completionMs)) / 1000
  // a process killed at the deadline takes GNU time with it: no measurement (0 or missing)
  const rss = nodes.map(x => (x.maxRssBytes ?? NaN) / 1e6).filter(v => Number.isFinite(v) && v > 0)
  return {
    system: spec.system,
    scenario: spec.scenario,
    ...(spec.mode === 'daemon' ? { mode: 'daemon' as const } : {}),
    ...(m.daemons !== undefined ? { daemons: m.daemons } : {}),
    n,
    size: content.size,
    originBytes,
    originCopies: originBytes / content.size,
    originWireBytes,
    originWireCopies: originWireBytes / content.size,
    originRelayedCopies: m.originRelayedBytes / content.size,
    originKeptCopies: nodes.reduce((s, x) => s + (x.bytesFromHttp ?? 0), 0) / content.size,
    ...(nodes.some(x => x.httpCut !== undefined) ? { httpCut: sumCutStats(nodes.map(x => x.httpCut)), httpBytesDuplicate: nodes.reduce((s, x) => s + (x.httpBytesDuplicate ?? 0), 0) } : {}),
    originRequests: m.originRequests,
    lastCompletionS,
    lowerBoundS: lb,
    ratioToLowerBound: lastCompletionS / lb,
    cpuSecondsPerGiB: delivered > 0 ? cpu / (delivered / GiB) : NaN,
    peakRssMaxMB: max(rss),
    peakRssMedianMB: median(rss),
    failures: nodes.filter(x => !x.ok && x.role !== 'churned').length,
    cdfS,
    originTimeline: m.timeline,
    ...(lateInfo !== undefined ? { late: lateInfo } : {}),
    ...(spec.notes !== undefined ? { extra: spec.notes() } : {}),
    nodes,
    wallS: m.wallS
  }
}
