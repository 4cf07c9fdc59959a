/**
 * Daemon mode of the LAN benchmark — the intended deployment: a
 * `doswarm serve` runs on every machine before anyone needs the file, and a
 * download agent submits the job to its local daemon's control API.
 *
 * Each host namespace gets a daemon (TCP 7680, mDNS on, state and cache in
 * the run's scratch directory). Its control API listens on a Unix socket in
 * that directory: the driver runs in the root namespace, where the host
 * namespace's 127.0.0.1 is not reachable, but the file system is shared.
 * The driver waits until every API answers, then until every daemon is
 * connected to every other one (`connectedPeers`; or the warm-up limit passes), and only then
 * submits the job (`POST /v1/jobs`) as the scenario says — all at once,
 * staggered, late, with some daemons killed (churn), or with the malicious
 * peer as every daemon's static peer (corrupt). It follows each job with
 * `GET /v1/jobs/:id`; the completion time is the daemon's `finishedAt`
 * (same machine, same clock), so the poll interval does not blur it.
 * CPU seconds and peak RSS are per daemon process over the job: CPU from
 * /proc/<pid>/stat at submission and at the end, peak RSS as VmHWM after
 * resetting it at submission (`echo 5 > /proc/<pid>/clear_refs`).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JobInfo } from '../../src/daemon/api-types.js'
import { DaemonClient } from '../../src/daemon/client.js'
import { CLI_ARGV } from '../lib/fixture.js'
import { cpuSecondsOf, startChild, type Child } from '../lib/proc.js'
import { verifyOutput, type NodeRecord } from './hosts.js'
import { nsExec } from './netns.js'
import { keepLog, sleep, summarize, watchOrigin, withDeadline, type PlanEntry, type RunResult, type RunSpec } from './scenarios.js'

/** The port every daemon listens on for peers (the doswarm default). */
export const DAEMON_P2P_PORT = 7680
/** How often the driver asks a daemon about its job (the completion time comes from the daemon, not from the poll). */
const POLL_MS = 500
/** How often the driver asks the daemons for their connections during the warm-up. */
const MESH_POLL_MS = 250
/** Longest a daemon may take to print its "running" line. */
const START_TIMEOUT_MS = 90_000

export interface DaemonRunSpec extends RunSpec {
  /** longest wait, after every daemon's API answers, for them to connect to each other before the job is submitted (s) */
  warmupS: number
}

/** One host's daemon during a run. */
export interface HostDaemon {
  entry: PlanEntry
  child: Child
  client: DaemonClient
  pid: number
  out: string
  /** set when the job was submitted */
  jobId?: string
  submittedAtMs?: number
  cpuAtSubmit?: number
  /** CPU seconds and peak RSS over the job, read before the daemon is stopped (or killed) */
  cpuSeconds?: number
  maxRssBytes?: number
  last?: JobInfo
  killed: boolean
  error?: string
}

/** Start `doswarm serve` in the entry's host namespace; resolves when its control API answers. */
export async function startDaemon (entry: PlanEntry, dir: string, opts: { trust: string, timeoutMs: number }): Promise<HostDaemon> {
  const d = join(dir, `d${entry.index}`)
  await mkdir(d, { recursive: true })
  const stateDir = join(d, 'state')
  const socket = join(d, 'api.sock')
  const config = {
    stateDir,
    cacheDir: join(d, 'cache'),
    listen: [`/ip4/0.0.0.0/tcp/${DAEMON_P2P_PORT}`],
    peers: entry.peers ?? [],
    mdns: true,
    trust: [opts.trust],
    api: { socket }
  }
  const configFile = join(d, 'config.json')
  await writeFile(configFile, JSON.stringify(config, null, 2))
  const [cmd, args] = nsExec(entry.host.ns, process.execPath, [...CLI_ARGV, 'serve', '--config', configFile])
  // no GNU time around a daemon: `ip netns exec` execs node itself, so the child's pid is the daemon's
  const child = startChild(cmd, args, { name: `daemon ${entry.host.ns}`, timeoutMs: opts.timeoutMs })
  await child.waitForLine(l => l.startsWith('doswarm daemon running'), START_TIMEOUT_MS)
  const token = (await readFile(join(stateDir, 'api-token'), 'utf8')).trim()
  const client = new DaemonClient({ url: `unix:${socket}`, token })
  await client.stats()
  return { entry, child, client, pid: child.pid as number, out: join(dir, `out-${entry.index}.bin`), killed: false }
}

/** Reset the process's peak RSS (VmHWM) to its current RSS; false when the kernel refuses. */
function resetPeakRss (pid: number): boolean {
  try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true } catch { return false }
}

function peakRssBytes (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) * 1024
  } catch {
    return NaN
  }
}

/** Take the daemon's CPU and peak RSS over the job (once: before a kill or a stop). */
function measure (d: HostDaemon): void {
  if (d.cpuSeconds !== undefined || d.cpuAtSubmit === undefined) return
  d.cpuSeconds = cpuSecondsOf(d.pid) - d.cpuAtSubmit
  d.maxRssBytes = peakRssBytes(d.pid)
}

/**
 * Wait until every daemon is connected to as many distinct peers as there
 * are other daemons (`connectedPeers` of GET /v1/stats; in `corrupt` the
 * malicious static peer counts too), or `deadline` (performance.now())
 * passes. Returns the connected peers of each at the end and whether they
 * got there.
 */
export async function waitForMesh (daemons: HostDaemon[], deadline: number): Promise<{ meshed: boolean, connections: number[] }> {
  let connections: number[] = []
  for (;;) {
    connections = await Promise.all(daemons.map(async d => await d.client.stats().then(s => s.connectedPeers, () => 0)))
    if (connections.every(c => c >= daemons.length - 1)) return { meshed: true, connections }
    if (performance.now() >= deadline) return { meshed: false, connections }
    await sleep(MESH_POLL_MS)
  }
}

/** Submit the job to one daemon at ms `at` since t0. */
async function submit (d: HostDaemon, spec: DaemonRunSpec, t0: number): Promise<void> {
  d.submittedAtMs = performance.now() - t0
  d.cpuAtSubmit = cpuSecondsOf(d.pid)
  resetPeakRss(d.pid)
  const job = await d.client.createJob({ manifestPath: spec.content.manifest, out: d.out, trust: [spec.content.publicKey] })
  d.jobId = job.id
  d.last = job
}

/** Follow the daemon's job; resolves with its completion (ms since t0, from the daemon's finishedAt) or NaN. */
async function follow (d: HostDaemon, t0Wall: number, deadline: number): Promise<number> {
  while (performance.now() < deadline) {
    if (!d.child.running || d.jobId === undefined) return NaN
    try {
      d.last = await d.client.job(d.jobId)
    } catch (err) {
      if (!d.child.running) return NaN
      d.error = (err as Error).message
    }
    const state = d.last?.state
    if (state === 'complete') return (d.last?.finishedAt ?? Date.now()) - t0Wall
    if (state === 'failed' || state === 'cancelled') {
      d.error = `job ${state}: ${d.last?.error?.code ?? ''} ${d.last?.error?.message ?? ''}`
      return NaN
    }
    await sleep(POLL_MS)
  }
  d.error = 'not complete by the deadline'
  return NaN
}

/** Stop daemons gracefully (SIGTERM), SIGKILL what is left after 15 s. */
async function stopAll (daemons: HostDaemon[]): Promise<void> {
  for (const d of daemons) d.child.signal('SIGTERM')
  const killer = setTimeout(() => { for (const d of daemons) d.child.signal('SIGKILL') }, 15_000)
  await Promise.all(daemons.map(async d => await d.child.exited))
  clearTimeout(killer)
}

/** One scenario in daemon mode: start and warm up the daemons, submit, follow, measure, stop. */
export async function runDaemonScenario (spec: DaemonRunSpec): Promise<RunResult> {
  const { origin, content } = spec
  const tStart = performance.now()
  const daemons: HostDaemon[] = []
  try {
    process.stderr.write(`  starting ${spec.plan.length} daemons…\n`)
    const started = await Promise.allSettled(spec.plan.map(async p => await startDaemon(p, spec.dir, { trust: content.publicKey, timeoutMs: spec.timeoutMs + spec.warmupS * 1000 + 120_000 })))
    for (const s of started) if (s.status === 'fulfilled') daemons.push(s.value)
    const failedStart = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failedStart !== undefined) throw failedStart.reason
    const upS = (performance.now() - tStart) / 1000
    // the warm-up limit counts from the moment every daemon answers: starting 20 on 2 cores alone takes ~30 s
    const mesh = await waitForMesh(daemons, performance.now() + spec.warmupS * 1000)
    const warmupS = (performance.now() - tStart) / 1000
    process.stderr.write(`  daemons up after ${upS.toFixed(1)} s; ${mesh.meshed ? `each connected to the ${daemons.length - 1} others after ${warmupS.toFixed(1)} s` : `not all connected ${spec.warmupS} s after they were up`} (connected peers per daemon ${Math.min(...mesh.connections)}–${Math.max(...mesh.connections)})\n`)

    const watch = await watchOrigin(origin)
    const { t0, timeline } = watch
    const t0Wall = Date.now()
    const deadline = t0 + spec.timeoutMs
    const timers: NodeJS.Timeout[] = []
    const main = daemons.filter(d => d.entry.startAtMs !== undefined)
    const late = daemons.filter(d => d.entry.startAtMs === undefined)
    const done = new Map<HostDaemon, Promise<number>>()
    const go = async (d: HostDaemon): Promise<number> => {
      try {
        await submit(d, spec, t0)
      } catch (err) {
        d.error = `submit: ${(err as Error).message}`
        return NaN
      }
      return await follow(d, t0Wall, deadline)
    }
    for (const d of main) {
      done.set(d, sleep(d.entry.startAtMs ?? 0).then(async () => await go(d)))
      if (d.entry.killAtMs !== undefined) {
        timers.push(setTimeout(() => { measure(d); d.killed = true; d.child.signal('SIGKILL') }, d.entry.killAtMs))
      }
    }
    const counted = main.filter(d => d.entry.killAtMs === undefined)
    await withDeadline(counted.map(async d => await done.get(d)), deadline)
    let lateInfo: RunResult['late']
    if (late.length > 0) {
      await origin.settle()
      const before = origin.bytesSent()
      for (const d of late) done.set(d, go(d))
      await withDeadline(late.map(async d => await done.get(d)), deadline)
      await origin.settle()
      lateInfo = { completionS: NaN, ownTimeS: NaN, originBytesDuring: origin.bytesSent() - before }
    }
    watch.stop()
    for (const t of timers) clearTimeout(t)
    const endS = (performance.now() - t0) / 1000
    for (const d of daemons) measure(d)
    // the final per-job counters (bytes sent to peers keep growing while a daemon seeds)
    await Promise.all(daemons.map(async d => {
      if (d.jobId === undefined || !d.child.running) return
      d.last = await d.client.job(d.jobId).catch(() => d.last)
    }))
    await stopAll(daemons)
    await origin.settle()

    const nodes: NodeRecord[] = []
    for (const d of daemons) {
      const completionMs = await (done.get(d) ?? Promise.resolve(NaN))
      const role: NodeRecord['role'] = d.entry.startAtMs === undefined ? 'late' : d.entry.killAtMs !== undefined ? 'churned' : 'node'
      const exit = await d.child.exited
      await keepLog(spec, d.entry.host.ns, exit.stderr)
      const rec: NodeRecord = {
        system: 'doswarm', ns: d.entry.host.ns, role, ok: false, killed: d.killed, code: exit.code,
        startMs: d.submittedAtMs ?? NaN, completionMs,
        ...(d.cpuSeconds !== undefined && Number.isFinite(d.cpuSeconds) ? { cpuSeconds: d.cpuSeconds } : {}),
        ...(d.maxRssBytes !== undefined && Number.isFinite(d.maxRssBytes) ? { maxRssBytes: d.maxRssBytes } : {}),
        ...(d.last !== undefined ? { bytesFromHttp: d.last.bytesFromHttp, bytesFromPeers: d.last.bytesFromPeers, bytesToPeers: d.last.bytesToPeers } : {}),
        ...(d.last?.httpCut !== undefined ? { httpCut: d.last.httpCut, httpBytesDuplicate: d.last.httpBytesDuplicate } : {})
      }
      if (d.entry.killAtMs !== undefined) rec.killAtMs = d.entry.killAtMs
      if (!(d.killed && role === 'churned' && !Number.isFinite(completionMs))) {
        try {
          if (!Number.isFinite(completionMs)) throw new Error(`did not complete: ${d.error ?? ''} (daemon exit ${String(exit.code)}); stderr: ${exit.stderr.trim().slice(-400)}`)
          await verifyOutput(d.out, content)
          rec.ok = true
        } catch (err) {
          rec.error = (err as Error).message
        }
      }
      if (!rec.ok && role !== 'churned') process.stderr.write(`  doswarm/${spec.scenario} (daemon) ${rec.ns}: ${rec.error ?? 'failed'}\n`)
      nodes.push(rec)
      await rm(d.out, { force: true })
    }
    return summarize(spec, {
      nodes,
      ...watch.delta(),
      timeline,
      lateInfo,
      wallS: endS,
      daemons: { upS, meshedS: mesh.meshed ? warmupS : NaN, warmupS, connectionsAtSubmit: mesh.connections }
    })
  } finally {
    // whatever happened: no daemon outlives its run (teardownLan kills what is left in the namespaces, too)
    await stopAll(daemons)
    await rm(spec.dir, { recursive: true, force: true })
  }
}
