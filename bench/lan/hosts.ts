/**
 * The processes of one LAN benchmark run, each started inside its host's
 * namespace with `ip netns exec` (GNU time around it for CPU and peak RSS):
 * a `doswarm get` node, a curl download, or a WebTorrent client; plus what
 * the driver learns from each (completion time, JSON line, verified output).
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI_ARGV, sha256File } from '../lib/fixture.js'
import { startChild, type Child, type ChildResult } from '../lib/proc.js'
import { nsExec, type LanHost } from './netns.js'
import type { HttpCutStats } from '../../src/origin/cut.js'

export type System = 'doswarm' | 'http' | 'webtorrent'

/** What every client process needs to know about the content. */
export interface Content {
  size: number
  sha256: string
  manifest: string
  publicKey: string
  originUrl: string
  /** .torrent file (WebTorrent runs only) */
  torrent?: string
}

export interface LaunchSpec {
  system: System
  host: LanHost
  /** index of the host, for file names */
  index: number
  /** scratch directory for this run */
  dir: string
  content: Content
  timeoutMs: number
  /** doswarm / WebTorrent: keep serving after the download until stopped */
  seed: boolean
  /** doswarm: extra --peer addresses */
  peers?: string[]
  /** WebTorrent: the driver script */
  wtNode?: string
}

/** One client process and when it finished. */
export interface Launched {
  spec: LaunchSpec
  child: Child
  /** ms since the run's t0 when it was started */
  startMs: number
  /** resolves with ms since t0 at completion (verified file in place), NaN when it never completed */
  done: Promise<number>
  out: string
  killed: boolean
}

export function outputPath (spec: LaunchSpec): string {
  if (spec.system === 'webtorrent') return join(spec.dir, `wt-${spec.index}`, 'content.bin')
  return join(spec.dir, `out-${spec.index}.bin`)
}

function argv (spec: LaunchSpec): [string, string[]] {
  const { content, dir, index } = spec
  switch (spec.system) {
    case 'doswarm': {
      const a = [...CLI_ARGV, 'get', content.manifest, '--json', '--trust', content.publicKey, '--cache', join(dir, `cache-${index}`),
        '--out', outputPath(spec), '--listen', '/ip4/0.0.0.0/tcp/7680']
      if (spec.seed) a.push('--seed')
      for (const p of spec.peers ?? []) a.push('--peer', p)
      return nsExec(spec.host.ns, process.execPath, a)
    }
    case 'http':
      return nsExec(spec.host.ns, 'curl', ['-sS', '--fail', '--noproxy', '*', '-o', outputPath(spec), content.originUrl])
    case 'webtorrent': {
      if (spec.wtNode === undefined || content.torrent === undefined) throw new Error('webtorrent: driver script and torrent needed')
      return nsExec(spec.host.ns, process.execPath, [spec.wtNode, content.torrent, join(dir, `wt-${index}`), '6881'])
    }
  }
}

/** Start one client at `startMs` (ms since t0) of a run that started at `t0` (performance.now()). */
export function launch (spec: LaunchSpec, t0: number): Launched {
  const [cmd, args] = argv(spec)
  const startMs = performance.now() - t0
  const child = startChild(cmd, args, { name: `${spec.system} ${spec.host.ns}`, timeoutMs: spec.timeoutMs, measure: true, measureDir: spec.dir })
  const done = spec.system === 'http'
    ? child.exited.then(r => r.code === 0 ? r.endedAt - t0 : NaN)
    : child.waitForLine(l => l.startsWith('{'), spec.timeoutMs).then(l => {
      const j = JSON.parse(l) as { ok?: boolean }
      return j.ok === true ? performance.now() - t0 : NaN
    }, () => NaN)
  return { spec, child, startMs, done, out: outputPath(spec), killed: false }
}

export interface NodeRecord {
  system: System
  ns: string
  role: 'node' | 'late' | 'churned'
  ok: boolean
  killed: boolean
  code: number | null
  /** ms since t0 */
  startMs: number
  /** ms since t0 at completion, NaN if it did not complete */
  completionMs: number
  /** churn: ms since t0 when it was killed */
  killAtMs?: number
  cpuSeconds?: number
  maxRssBytes?: number
  /** doswarm: from its --json line */
  bytesFromHttp?: number
  bytesFromPeers?: number
  bytesToPeers?: number
  /** doswarm: HTTP requests cut short by why, and whole origin pieces a peer had delivered first (src/origin/cut.ts) */
  httpCut?: HttpCutStats
  httpBytesDuplicate?: number
  /** WebTorrent: from its JSON line */
  uploaded?: number
  error?: string
}

/** After the process exited: parse its line, verify the output (size + SHA-256), build the record. */
export async function record (l: Launched, r: ChildResult, completionMs: number, role: NodeRecord['role']): Promise<NodeRecord> {
  const rec: NodeRecord = {
    system: l.spec.system, ns: l.spec.host.ns, role, ok: false, killed: l.killed, code: r.code,
    startMs: l.startMs, completionMs,
    ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
    ...(r.maxRssBytes !== undefined ? { maxRssBytes: r.maxRssBytes } : {})
  }
  if (l.killed && role === 'churned' && !Number.isFinite(completionMs)) return rec
  try {
    if (!Number.isFinite(completionMs)) throw new Error(`did not complete (exit ${String(r.code)}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-400)}`)
    const line = r.stdout.split('\n').find(x => x.startsWith('{'))
    if (line !== undefined) {
      const j = JSON.parse(line) as Record<string, unknown>
      for (const k of ['bytesFromHttp', 'bytesFromPeers', 'bytesToPeers', 'uploaded', 'httpBytesDuplicate'] as const) {
        if (typeof j[k] === 'number') rec[k] = j[k]
      }
      if (typeof j.httpCut === 'object' && j.httpCut !== null) rec.httpCut = j.httpCut as HttpCutStats
    }
    await verifyOutput(l.out, l.spec.content)
    rec.ok = true
  } catch (err) {
    rec.error = (err as Error).message
  }
  return rec
}

/** Throws unless `out` holds exactly the content (size, then SHA-256). */
export async function verifyOutput (out: string, content: Pick<Content, 'size' | 'sha256'>): Promise<void> {
  const s = await stat(out)
  if (s.size !== content.size) throw new Error(`output has ${s.size} bytes, expected ${content.size}`)
  if (await sha256File(out) !== content.sha256) throw new Error('output differs from the source file')
}
