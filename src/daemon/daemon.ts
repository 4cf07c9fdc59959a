/**
 * `doswarm serve`: one node per machine. It owns the cache (and keeps
 * sharing what the cache holds across restarts), runs download jobs for
 * local agents, keeps statistics, evicts old content, and answers the local
 * control API. Started from a validated {@link DaemonConfig}.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Server } from 'node:http'
import type { Registry } from 'prom-client'
import { ConfigError, UsageError } from '../errors.js'
import { verifyManifest } from '../manifest/index.js'
import { parseGroupSecret } from '../node/group.js'
import { createNode, type DoswarmNode } from '../node/node.js'
import { diskBytes, evictCache, parseCacheSize } from '../store/eviction.js'
import { nodeStoreFs, writeFileAtomic } from '../store/index.js'
import type { StatsInfo } from './api-types.js'
import type { DaemonConfig } from './config.js'
import { JobManager } from './jobs.js'
import { createMetrics } from './metrics.js'
import { startApiServer } from './server.js'
import { StatsBook } from './stats.js'

/** File in the state directory holding the API token (mode 0600). */
export const TOKEN_FILE = 'api-token'
/** File in the state directory telling clients where the running daemon listens. */
export const DAEMON_FILE = 'daemon.json'
/** How often upload counters are sampled into the statistics. @default 1000 */
export const SAMPLE_MS = 1000
/** How often statistics are saved. @default 10000 */
export const SAVE_MS = 10_000
/** How often the cache is checked against its limits. @default 600000 */
export const EVICT_MS = 10 * 60_000

/** What `<stateDir>/daemon.json` says. */
export interface DaemonFile { pid: number, url: string, startedAt: number, peerId: string | null }

export class Daemon {
  readonly config: DaemonConfig
  readonly node: DoswarmNode
  readonly jobs: JobManager
  readonly stats: StatsBook
  readonly metrics: Registry
  readonly token: string
  readonly startedAt = Date.now()
  url = ''
  #server: Server | undefined
  readonly #timers: NodeJS.Timeout[] = []
  #uploaded = 0
  #banned = 0
  readonly #peerSeen = new Map<string, { sent: number, received: number }>()
  #cacheBytes = 0
  #stopping: Promise<void> | undefined
  readonly #log: (m: string) => void

  private constructor (config: DaemonConfig, node: DoswarmNode, stats: StatsBook, token: string, log: (m: string) => void) {
    this.config = config
    this.node = node
    this.stats = stats
    this.token = token
    this.#log = log
    this.jobs = new JobManager({ node, stateDir: config.stateDir, trust: config.trust, stats })
    this.metrics = createMetrics(() => ({ stats: this.#statsNow(), jobs: this.jobs.list() }))
  }

  /** Start a daemon; throws {@link ConfigError}, PORT_IN_USE and the like before anything runs. */
  static async start (config: DaemonConfig, opts: { log?: (m: string) => void } = {}): Promise<Daemon> {
    const log = opts.log ?? (() => {})
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 })
    await mkdir(config.cacheDir, { recursive: true })
    const token = await loadOrCreateToken(config.stateDir)
    let groupSecret: Uint8Array | undefined
    if (config.mode === 'group') {
      const text = config.groupSecret ?? await readFile(config.groupSecretFile as string, 'utf8').catch(() => {
        throw new ConfigError('groupSecretFile', `cannot read ${config.groupSecretFile ?? ''}`)
      })
      try { groupSecret = parseGroupSecret(text) } catch (err) { throw new ConfigError(config.groupSecret !== null ? 'groupSecret' : 'groupSecretFile', (err as Error).message) }
    }
    const node = createNode({
      cacheDir: config.cacheDir,
      stateDir: join(config.stateDir, 'node'),
      httpOnly: config.mode === 'http-only',
      listen: config.listen,
      peers: config.peers,
      mdns: config.mdns,
      trustedKeys: config.trust,
      httpDelayMs: config.httpDelay.foreground * 1000,
      backgroundHttpDelayMs: config.httpDelay.background * 1000,
      minFileSizeToPeer: config.cache.minFileSizeToPeer,
      maxConcurrentUploads: config.bandwidth.maxConcurrentUploads,
      bandwidth: { foregroundDownloadBps: config.bandwidth.foregroundDownload, backgroundDownloadBps: config.bandwidth.backgroundDownload, uploadBps: config.bandwidth.upload },
      ...(groupSecret !== undefined ? { groupSecret } : {}),
      log
    })
    await node.start()
    const stats = await StatsBook.open(join(config.stateDir, 'stats.json'))
    const daemon = new Daemon(config, node, stats, token, log)
    try {
      await daemon.jobs.load()
      await daemon.#shareCache()
      const api = await startApiServer(daemon, { token, host: config.api.host, port: config.api.port, socket: config.api.socket })
      daemon.#server = api.server
      daemon.url = api.url
      const info: DaemonFile = { pid: process.pid, url: api.url, startedAt: daemon.startedAt, peerId: node.peerId ?? null }
      await writeFileAtomic(nodeStoreFs, config.stateDir, DAEMON_FILE, new TextEncoder().encode(JSON.stringify(info)))
      daemon.#timers.push(setInterval(() => { daemon.#sample() }, SAMPLE_MS))
      daemon.#timers.push(setInterval(() => { void stats.save().catch(() => {}) }, SAVE_MS))
      daemon.#timers.push(setInterval(() => { void daemon.evict().catch(err => { log(`eviction failed: ${(err as Error).message}`) }) }, EVICT_MS))
      for (const t of daemon.#timers) t.unref()
      await daemon.#measureCache()
    } catch (err) {
      await daemon.stop()
      throw err
    }
    return daemon
  }

  /** Share every complete content the cache holds whose manifest we can still verify. */
  async #shareCache (): Promise<void> {
    const trusted = this.jobs.trustedKeys()
    for (const entry of await this.node.listCache()) {
      if (!entry.complete) continue
      try {
        const bytes = new Uint8Array(await readFile(join(this.config.cacheDir, entry.contentId, 'manifest')))
        await this.node.seed(verifyManifest(bytes, { trustedKeys: trusted }))
      } catch (err) {
        this.#log(`not sharing ${entry.contentId}: ${(err as Error).message}`)
      }
    }
  }

  /** Upload and ban counters move without jobs (seeding); sample them into the book. */
  #sample (): void {
    const s = this.node.counters()
    if (s.bytesToPeers > this.#uploaded) this.stats.add({ bytesToPeers: s.bytesToPeers - this.#uploaded })
    this.#uploaded = Math.max(this.#uploaded, s.bytesToPeers)
    if (s.peersBanned > this.#banned) this.stats.add({ peersBanned: s.peersBanned - this.#banned })
    this.#banned = Math.max(this.#banned, s.peersBanned)
    for (const [peerId, now] of this.node.peerTotals()) {
      const seen = this.#peerSeen.get(peerId) ?? { sent: 0, received: 0 }
      this.stats.addPeer(peerId, Math.max(0, now.sent - seen.sent), Math.max(0, now.received - seen.received))
      this.#peerSeen.set(peerId, { sent: Math.max(seen.sent, now.sent), received: Math.max(seen.received, now.received) })
    }
  }

  async #measureCache (): Promise<void> {
    this.#cacheBytes = (await this.node.listCache()).reduce((s, e) => s + e.size, 0)
  }

  /** Apply the cache limits now: too old first, then least recently used; never pinned or in-use content. */
  async evict (): Promise<string[]> {
    const maxBytes = parseCacheSize(this.config.cache.maxSize, await diskBytes(this.config.cacheDir))
    const inUse = this.jobs.inUse()
    const result = await evictCache(this.config.cacheDir, {
      maxBytes,
      maxAgeMs: this.config.cache.maxAgeDays * 86_400_000,
      pinned: new Set(this.config.cache.pinned),
      inUse
    })
    for (const id of result.removed) await this.node.forget(id)
    await this.#measureCache()
    return result.removed
  }

  #statsNow (): StatsInfo {
    const s = this.node.stats()
    const snap = this.stats.snapshot()
    return {
      peerId: s.peerId,
      mode: this.config.mode,
      listen: s.listen,
      connections: s.connections,
      connectedPeers: s.connectedPeers,
      uptimeMs: Date.now() - this.startedAt,
      total: snap.total,
      month: snap.month,
      days: snap.days,
      peers: snap.peers,
      cache: { bytes: this.#cacheBytes, entries: s.contents.length, maxBytes: 0 }
    }
  }

  /** GET /v1/stats */
  async statsInfo (): Promise<StatsInfo> {
    this.#sample()
    const info = this.#statsNow()
    const entries = await this.node.listCache()
    info.cache = {
      bytes: entries.reduce((s, e) => s + e.size, 0),
      entries: entries.length,
      maxBytes: parseCacheSize(this.config.cache.maxSize, await diskBytes(this.config.cacheDir).catch(() => 0))
    }
    return info
  }

  /** Graceful stop: jobs are saved as they are and resume at the next start. Idempotent. */
  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      for (const t of this.#timers) clearInterval(t)
      this.#sample()
      await this.jobs.shutdown()
      await new Promise<void>(resolve => { if (this.#server === undefined) resolve(); else this.#server.close(() => { resolve() }) })
      this.#server?.closeAllConnections()
      await this.node.stop()
      await this.stats.save().catch(() => {})
      await rm(join(this.config.stateDir, DAEMON_FILE), { force: true })
    })()
    await this.#stopping
  }
}

/** Read the API token, creating a random one (mode 0600) on first start. */
async function loadOrCreateToken (stateDir: string): Promise<string> {
  const path = join(stateDir, TOKEN_FILE)
  try {
    const st = await stat(path)
    if ((st.mode & 0o077) !== 0) await chmod(path, 0o600)
    const token = (await readFile(path, 'utf8')).trim()
    if (/^[0-9a-f]{64}$/.test(token)) return token
    throw new UsageError(`${path} does not hold a valid token; delete it to make a new one`)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('hex')
  // created 0600 from the first byte: the token is never readable by others
  await writeFile(path, token + '\n', { mode: 0o600, flag: 'wx' })
  await nodeStoreFs.fsyncDir(stateDir)
  return token
}
