/**
 * The daemon's download jobs: created by local agents through the control
 * API, persisted in `<stateDir>/jobs.json` (with a copy of each signed
 * manifest under `<stateDir>/manifests/`), resumed when the daemon starts
 * again, and fed into the statistics book as they progress.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { DoswarmError, UsageError } from '../errors.js'
import { verifyManifest, type Manifest } from '../manifest/index.js'
import type { DownloadJob, JobProgress } from '../node/job.js'
import { loadManifestBytes } from '../node/manifest-source.js'
import type { DoswarmNode } from '../node/node.js'
import { nodeStoreFs, writeFileAtomic } from '../store/index.js'
import { emptyCutStats, type HttpCutStats } from '../origin/cut.js'
import type { CreateJobRequest, JobInfo, JobState, Priority } from './api-types.js'
import type { StatsBook } from './stats.js'

/** Finished jobs kept in the list (oldest dropped first). @default 200 */
export const MAX_FINISHED_JOBS = 200

interface JobRecord {
  id: string
  contentId: string
  name: string
  size: number
  pieces: number
  out: string
  priority: Priority
  state: JobState
  trust: string[]
  createdAt: number
  startedAt?: number
  finishedAt?: number
  durationMs?: number
  bytesFromHttp: number
  bytesFromPeers: number
  piecesRejected: number
  peersBanned: number
  /** the final counters (absent in records written before they existed) */
  httpCut?: HttpCutStats
  httpBytesDuplicate?: number
  error?: { code: string, message: string }
}

const ACTIVE: readonly JobState[] = ['queued', 'downloading', 'paused']

export class JobManager {
  readonly #node: DoswarmNode
  readonly #stateDir: string
  readonly #trust: readonly string[]
  readonly #stats: StatsBook
  readonly #records = new Map<string, JobRecord>()
  readonly #live = new Map<string, DownloadJob>()
  /** bytes already added to the statistics book, per job */
  readonly #counted = new Map<string, { http: number, peers: number }>()
  #saving: Promise<void> = Promise.resolve()
  #stopping = false

  constructor (init: { node: DoswarmNode, stateDir: string, trust: readonly string[], stats: StatsBook }) {
    this.#node = init.node
    this.#stateDir = init.stateDir
    this.#trust = init.trust
    this.#stats = init.stats
  }

  get #file (): string { return join(this.#stateDir, 'jobs.json') }
  #manifestFile (contentId: string): string { return join(this.#stateDir, 'manifests', `${contentId}.dsw`) }

  /** Publisher keys any job has trusted (to re-verify cached manifests at start). */
  trustedKeys (): string[] {
    const all = new Set(this.#trust)
    for (const r of this.#records.values()) for (const k of r.trust) all.add(k)
    return [...all]
  }

  /** Content ids of jobs still running (never evicted). */
  inUse (): Set<string> {
    return new Set([...this.#records.values()].filter(r => ACTIVE.includes(r.state)).map(r => r.contentId))
  }

  /** Load the saved jobs and restart the unfinished ones (paused ones stay paused). */
  async load (): Promise<void> {
    await mkdir(join(this.#stateDir, 'manifests'), { recursive: true, mode: 0o700 })
    let saved: JobRecord[] = []
    try {
      const parsed = JSON.parse(await readFile(this.#file, 'utf8')) as { jobs?: JobRecord[] }
      if (Array.isArray(parsed.jobs)) saved = parsed.jobs
    } catch {
      // no jobs yet, or a damaged file: start with none rather than refuse to run
    }
    for (const r of saved) {
      if (typeof r?.id !== 'string' || !/^[a-z0-9]+$/.test(r.contentId ?? '')) continue
      this.#records.set(r.id, r)
      if (!ACTIVE.includes(r.state)) continue
      try {
        const bytes = new Uint8Array(await readFile(this.#manifestFile(r.contentId)))
        const manifest = verifyManifest(bytes, { trustedKeys: [...this.#trust, ...r.trust] })
        this.#start(r, manifest, r.state === 'paused')
      } catch (err) {
        this.#finish(r, 'failed', err)
      }
    }
    await this.save()
  }

  /** Create and start a job. */
  async create (req: CreateJobRequest): Promise<JobInfo> {
    if (typeof req.out !== 'string' || !isAbsolute(req.out)) throw new UsageError('out must be an absolute path')
    const priority = req.priority ?? 'foreground'
    if (priority !== 'foreground' && priority !== 'background') throw new UsageError('priority must be "foreground" or "background"')
    const sources = [req.manifest, req.manifestPath, req.manifestUrl].filter(x => x !== undefined)
    if (sources.length !== 1) throw new UsageError('give exactly one of manifest (base64), manifestPath or manifestUrl')
    const trust = Array.isArray(req.trust) ? req.trust.filter((k): k is string => typeof k === 'string') : []
    const bytes = req.manifest !== undefined
      ? new Uint8Array(Buffer.from(req.manifest, 'base64'))
      : await loadManifestBytes((req.manifestPath ?? req.manifestUrl) as string, req.pin !== undefined ? { pin: req.pin } : {})
    const manifest = verifyManifest(bytes, { trustedKeys: [...this.#trust, ...trust] })
    // a rolled-back version is refused here, before a job exists (the job would fail on it anyway)
    await this.#node.versions.admit(manifest)
    await writeFileAtomic(nodeStoreFs, join(this.#stateDir, 'manifests'), `${manifest.contentId}.dsw`, bytes)
    const r: JobRecord = {
      id: randomBytes(6).toString('hex'),
      contentId: manifest.contentId,
      name: manifest.name,
      size: manifest.size,
      pieces: manifest.pieceHashes.length,
      out: req.out,
      priority,
      state: 'queued',
      trust,
      createdAt: Date.now(),
      bytesFromHttp: 0,
      bytesFromPeers: 0,
      piecesRejected: 0,
      peersBanned: 0
    }
    this.#records.set(r.id, r)
    this.#start(r, manifest, false)
    await this.save()
    return this.info(r.id)
  }

  #start (r: JobRecord, manifest: Manifest, paused: boolean): void {
    const job = this.#node.download(manifest, { out: r.out, priority: r.priority, id: r.id })
    if (paused) job.pause()
    this.#live.set(r.id, job)
    this.#counted.set(r.id, { http: 0, peers: 0 })
    job.addEventListener('state', () => {
      if (ACTIVE.includes(job.state)) { r.state = job.state; void this.save() }
    })
    job.addEventListener('progress', evt => { this.#progress(r, (evt as CustomEvent<JobProgress>).detail) })
    job.done.then(result => {
      this.#progress(r, result)
      r.piecesRejected = result.piecesRejected
      r.peersBanned = result.peersBanned
      r.httpCut = result.httpCut
      r.httpBytesDuplicate = result.httpBytesDuplicate
      // bans are counted node-wide by the daemon's sampler (seeding bans too), not here
      this.#stats.add({ downloads: 1, piecesRejected: result.piecesRejected })
      this.#finish(r, 'complete')
    }, err => {
      this.#finish(r, job.state === 'cancelled' ? 'cancelled' : 'failed', err)
    })
  }

  #progress (r: JobRecord, p: { bytesFromHttp: number, bytesFromPeers: number }): void {
    // a job's progress counts from the start of this run; the record also holds earlier runs
    const run = this.#counted.get(r.id)
    if (run === undefined) return
    const http = Math.max(run.http, p.bytesFromHttp)
    const peers = Math.max(run.peers, p.bytesFromPeers)
    this.#stats.add({ bytesFromHttp: http - run.http, bytesFromPeers: peers - run.peers })
    r.bytesFromHttp += http - run.http
    r.bytesFromPeers += peers - run.peers
    this.#counted.set(r.id, { http, peers })
    r.startedAt ??= Date.now()
  }

  #finish (r: JobRecord, state: JobState, err?: unknown): void {
    // while the daemon stops, running jobs end with aborts: they stay active on disk and resume at the next start
    if (this.#stopping) return
    r.state = state
    r.finishedAt = Date.now()
    if (r.startedAt !== undefined) r.durationMs = r.finishedAt - r.startedAt
    if (err !== undefined) {
      const e = err as { code?: string, message?: string }
      r.error = { code: err instanceof DoswarmError ? err.code : (e.code ?? 'INTERNAL'), message: e.message ?? String(err) }
    }
    this.#live.delete(r.id)
    this.#counted.delete(r.id)
    this.#trim()
    void this.save()
  }

  #trim (): void {
    const finished = [...this.#records.values()].filter(r => !ACTIVE.includes(r.state)).sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0))
    for (const r of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED_JOBS))) this.#records.delete(r.id)
  }

  #get (id: string): JobRecord {
    const r = this.#records.get(id)
    if (r === undefined) throw new DoswarmError('NOT_FOUND', `no job ${id}`)
    return r
  }

  pause (id: string): JobInfo { this.#get(id); this.#live.get(id)?.pause(); return this.info(id) }
  resume (id: string): JobInfo { this.#get(id); this.#live.get(id)?.resume(); return this.info(id) }
  cancel (id: string): JobInfo { this.#get(id); this.#live.get(id)?.cancel(); return this.info(id) }

  info (id: string): JobInfo {
    const r = this.#get(id)
    const job = this.#live.get(id)
    const p = job?.progress
    const session = this.#node.swarm?.session(r.contentId)
    const perPeer = session === undefined
      ? []
      : [...session.links.values()].map(l => ({ peerId: l.peerId, received: l.bytesReceived, sent: l.bytesSent }))
    const have = r.state === 'complete' ? r.pieces : (p?.have ?? 0)
    const info: JobInfo = {
      id: r.id,
      contentId: r.contentId,
      name: r.name,
      out: r.out,
      priority: r.priority,
      state: job?.state ?? r.state,
      size: r.size,
      pieces: r.pieces,
      have,
      bytesDone: r.state === 'complete' ? r.size : (p?.bytesDone ?? 0),
      bytesFromHttp: r.bytesFromHttp,
      bytesFromPeers: r.bytesFromPeers,
      bytesToPeers: session?.counters.bytesToPeers ?? 0,
      piecesRejected: p?.piecesRejected ?? r.piecesRejected,
      peersBanned: r.peersBanned,
      httpCut: p?.httpCut ?? r.httpCut ?? emptyCutStats(),
      httpBytesDuplicate: p?.httpBytesDuplicate ?? r.httpBytesDuplicate ?? 0,
      peers: session?.links.size ?? 0,
      perPeer,
      createdAt: r.createdAt
    }
    if (r.startedAt !== undefined) info.startedAt = r.startedAt
    if (r.finishedAt !== undefined) info.finishedAt = r.finishedAt
    if (r.durationMs !== undefined) info.durationMs = r.durationMs
    if (r.error !== undefined) info.error = r.error
    return info
  }

  list (): JobInfo[] {
    return [...this.#records.keys()].map(id => this.info(id)).sort((a, b) => b.createdAt - a.createdAt)
  }

  /** Write jobs.json (serialised: one write at a time, the last state wins). */
  async save (): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      const body = JSON.stringify({ version: 1, jobs: [...this.#records.values()] })
      await writeFileAtomic(nodeStoreFs, this.#stateDir, 'jobs.json', new TextEncoder().encode(body))
    }).catch(() => {})
    await this.#saving
  }

  /** Before the node stops: remember which jobs were running so the next start resumes them. */
  async shutdown (): Promise<void> {
    this.#stopping = true
    for (const r of this.#records.values()) {
      const job = this.#live.get(r.id)
      if (job !== undefined && ACTIVE.includes(job.state)) r.state = job.state
    }
    this.#live.clear()
    await this.save()
  }
}
