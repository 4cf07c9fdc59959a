/**
 * A doswarm node: one libp2p peer, one cache, the swarm on top, and the
 * operations a user or an embedding program asks of it — download a
 * manifest's file, seed a local copy. With `httpOnly` there is no libp2p at
 * all (Delivery Optimization's "HTTP only" mode: hash checks still apply).
 */
import { open as openFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FileHashMismatchError, UsageError } from '../errors.js'
import { pieceCount, pieceLength, pieceOffset, verifyManifest, type Manifest } from '../manifest/index.js'
import { HttpSource, type HttpSourceInit } from '../origin/index.js'
import { addCutStats, emptyCutStats } from '../origin/cut.js'
import { PieceStore, listCache, type CacheEntry } from '../store/index.js'
import { sequentialHashPool } from '../store/hash-pool.js'
import { Downloader, type DownloadStats } from '../swarm/download.js'
import { DownloadJob, type DownloadResult, type JobProgress, type Priority } from './job.js'

export type { DownloadResult } from './job.js'
import { loadManifestBytes, type ManifestFetchOptions, type ManifestInput } from './manifest-source.js'
import type { Swarm } from '../swarm/swarm.js'
import { BandwidthManager, type BandwidthManagerInit } from '../swarm/rate-limit.js'
import { checkOutputPath } from './output.js'
import type { P2PLimits, P2PNode } from './libp2p.js'
import { defaultCacheDir } from './paths.js'
import { VersionGuard } from './versions.js'

/** Background downloads wait longer before falling back to HTTP (Delivery Optimization: 30 s vs 5 s…). */
export const DEFAULT_BACKGROUND_HTTP_DELAY_MS = 30_000

/** Pieces of a local file being imported for seeding that may await their commit at once. */
const SEED_IMPORT_WINDOW = 32

export interface NodeInit {
  /** @default per-user cache directory */
  cacheDir?: string
  /** peer identity lives here. @default `<cacheDir>/node` */
  stateDir?: string
  /** no peers at all: download from HTTP only. @default false */
  httpOnly?: boolean
  /** libp2p listen multiaddrs. @default TCP 7680 on all IPv4 and IPv6 addresses */
  listen?: string[]
  /** static peers (multiaddrs, `/p2p/<id>` optional) */
  peers?: string[]
  /** mDNS discovery on the LAN. @default true */
  mdns?: boolean
  /** ms between mDNS queries (a node also queries when it starts). @default 30000 (MDNS_QUERY_INTERVAL_MS) */
  mdnsIntervalMs?: number
  /** ms a foreground download waits before fetching from HTTP a piece another node owns (`--http-delay`). See OriginCoordinator. @default 5000 */
  httpDelayMs?: number
  /** the same for background downloads. @default 30000 */
  backgroundHttpDelayMs?: number
  /** files smaller than this are downloaded from HTTP only and not shared. @default 0 */
  minFileSizeToPeer?: number
  /** bandwidth caps in bytes/s (0 = unlimited); background downloads yield to foreground ones */
  bandwidth?: BandwidthManagerInit
  /** libp2p resource limits (connections, per-IP cap, handshake timeout, yamux buffers); defaults in DEFAULT_LIMITS (docs/SECURITY.md) */
  limits?: Partial<P2PLimits>
  /** group mode: only peers holding this 32-byte secret can connect (libp2p private network) */
  groupSecret?: Uint8Array
  /** ms after start during which no HTTP fetch starts while peers may still connect. @default 1000 */
  settleMs?: number
  /**
   * Peers connected at least this long when a download begins own its early
   * phase: after `settleMs` the node fetches from the origin the blocks it
   * owns among itself and them, before the crowd's HELLOs settle. @default 10000
   */
  earlyPeerMinAgeMs?: number
  /** peer request deadline in ms. @default 15000 */
  requestTimeoutMs?: number
  /** pieces uploaded at once. @default 8 */
  maxConcurrentUploads?: number
  /** publisher keys trusted for every download of this node */
  trustedKeys?: string[]
  /** HTTP origin options (timeouts, retries, connections) */
  http?: Omit<HttpSourceInit, 'url' | 'manifest'>
  log?: (message: string) => void
}

export interface DownloadOptions {
  /** destination; never created for a failed download */
  out: string
  /** trusted publisher keys (besides the node's `trustedKeys`), when the manifest is not yet verified */
  trustedKeys?: string[]
  /** aborting it cancels the job */
  signal?: AbortSignal
  /** @default 'foreground' */
  priority?: Priority
  /** called with every progress report (also dispatched as the job's `progress` event) */
  onProgress?: (p: JobProgress) => void
  /** how to fetch an `https://` manifest (certificate pinning, extra CA) */
  fetch?: ManifestFetchOptions
  /** job id to use (the daemon keeps its own ids across restarts) */
  id?: string
}

/** {@link DoswarmNode.stats} */
export interface NodeStats {
  peerId: string | null
  listen: string[]
  /** open connections (two nodes that dialled each other at once may hold two) */
  connections: number
  /** distinct peers with at least one open connection */
  connectedPeers: number
  bytesToPeers: number
  peersBanned: number
  /** open peer links, over all contents */
  links: number
  /** content ids this node has open (downloading or shared) */
  contents: string[]
}

function addStats (total: DownloadStats, run: DownloadStats): void {
  total.bytesFromHttp += run.bytesFromHttp
  total.bytesFromPeers += run.bytesFromPeers
  total.piecesRejected += run.piecesRejected
  total.peersBanned += run.peersBanned
  addCutStats(total.httpCut, run.httpCut)
  total.httpBytesDuplicate += run.httpBytesDuplicate
  for (const s of run.sources) {
    const t = total.sources.find(x => x.id === s.id)
    if (t === undefined) total.sources.push({ ...s })
    else { t.bytes += s.bytes; t.pieces += s.pieces; t.rejected += s.rejected; t.banned ||= s.banned }
  }
}

export class DoswarmNode {
  readonly init: NodeInit
  readonly cacheDir: string
  #p2p: P2PNode | undefined
  #swarm: Swarm | undefined
  readonly #stores = new Map<string, PieceStore>()
  readonly #bandwidth: BandwidthManager
  /** rollback protection: highest manifest version per publisher and name (THREATS T7) */
  readonly versions: VersionGuard
  #starting: Promise<void> | undefined
  #stopped = false

  constructor (init: NodeInit = {}) {
    this.init = init
    this.cacheDir = init.cacheDir ?? defaultCacheDir()
    if (init.httpDelayMs !== undefined && !(init.httpDelayMs >= 0)) throw new UsageError('httpDelayMs must be ≥ 0')
    if (init.backgroundHttpDelayMs !== undefined && !(init.backgroundHttpDelayMs >= 0)) throw new UsageError('backgroundHttpDelayMs must be ≥ 0')
    this.#bandwidth = new BandwidthManager(init.bandwidth ?? {})
    this.versions = new VersionGuard(init.stateDir ?? join(this.cacheDir, 'node'))
  }

  /** Start the peer (idempotent). */
  async start (): Promise<void> {
    this.#starting ??= this.#start()
    await this.#starting
  }

  async #start (): Promise<void> {
    if (this.init.httpOnly === true) return
    const banned = (id: string): boolean => this.#swarm?.isBanned(id) === true
    // libp2p is loaded only when peers are wanted: an HTTP-only node starts faster and smaller
    const [{ createP2PNode, dialStaticPeers }, { Swarm }] = await Promise.all([import('./libp2p.js'), import('../swarm/swarm.js')])
    this.#p2p = await createP2PNode({
      stateDir: this.init.stateDir ?? join(this.cacheDir, 'node'),
      ...(this.init.listen !== undefined ? { listen: this.init.listen } : {}),
      mdns: this.init.mdns ?? true,
      ...(this.init.mdnsIntervalMs !== undefined ? { mdnsIntervalMs: this.init.mdnsIntervalMs } : {}),
      denyPeer: banned,
      ...(this.init.limits !== undefined ? { limits: this.init.limits } : {}),
      denyAddress: ip => this.#swarm?.isAddressBanned(ip) === true,
      onAbuse: (peerId, reason, ip) => { this.#swarm?.ban(peerId, reason, ip) },
      ...(this.init.groupSecret !== undefined ? { groupSecret: this.init.groupSecret } : {}),
      ...(this.init.log !== undefined ? { log: this.init.log } : {})
    })
    this.#swarm = new Swarm({
      node: this.#p2p,
      expectPeers: (this.init.peers ?? []).length > 0,
      discovering: this.init.mdns ?? true,
      ...(this.init.httpDelayMs !== undefined ? { httpDelayMs: this.init.httpDelayMs } : {}),
      ...(this.init.settleMs !== undefined ? { settleMs: this.init.settleMs } : {}),
      ...(this.init.earlyPeerMinAgeMs !== undefined ? { earlyPeerMinAgeMs: this.init.earlyPeerMinAgeMs } : {}),
      ...(this.init.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.init.requestTimeoutMs } : {}),
      ...(this.init.maxConcurrentUploads !== undefined ? { maxConcurrentUploads: this.init.maxConcurrentUploads } : {}),
      uploadLimiter: this.#bandwidth.upload,
      ...(this.init.log !== undefined ? { log: this.init.log } : {})
    })
    await this.#swarm.start()
    if ((this.init.peers ?? []).length > 0) void dialStaticPeers(this.#p2p, this.init.peers ?? []).catch(() => {})
  }

  /** Stop serving, close stores and the peer (idempotent). */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    await this.#starting?.catch(() => {})
    await this.#swarm?.stop()
    await Promise.allSettled([...this.#stores.values()].map(async s => { await s.close() }))
    this.#stores.clear()
    await this.#p2p?.stop()
  }

  /** Our peer id, or undefined in HTTP-only mode. */
  get peerId (): string | undefined { return this.#p2p?.peerId.toString() }
  /** Addresses we listen on. */
  get multiaddrs (): string[] { return this.#p2p?.getMultiaddrs().map(a => a.toString()) ?? [] }
  get swarm (): Swarm | undefined { return this.#swarm }

  async #verify (input: ManifestInput | Manifest, trustedKeys: string[] | undefined, fetch: ManifestFetchOptions = {}): Promise<Manifest> {
    if (!(input instanceof Uint8Array) && typeof input === 'object' && !(input instanceof URL)) return input
    const bytes = await loadManifestBytes(input, fetch)
    return verifyManifest(bytes, { trustedKeys: [...(this.init.trustedKeys ?? []), ...(trustedKeys ?? [])] })
  }

  async #store (manifest: Manifest): Promise<PieceStore> {
    let store = this.#stores.get(manifest.contentId)
    if (store === undefined) {
      // an HTTP-only node's pieces arrive in order, so its running file hash can keep pace on a worker of
      // its own; a node with a swarm keeps the one shared pool (a second pool there cost RSS and time)
      store = await PieceStore.open({ cacheDir: this.cacheDir, manifest, ...(this.init.httpOnly === true ? { hashPool: sequentialHashPool() } : {}) })
      this.#stores.set(manifest.contentId, store)
    }
    return store
  }

  /**
   * Download a manifest's file: peers first, the origin as the coordinated
   * last resort, every piece verified, the whole file proven, then renamed
   * into `out`. Returns a {@link DownloadJob} at once; await it (or
   * `job.done`) for the result. The content stays shared while the node runs.
   *
   * @param manifest signed manifest bytes, a verified {@link Manifest}, a file path, or an `https://` URL
   */
  download (manifest: ManifestInput | Manifest, opts: DownloadOptions): DownloadJob {
    const job = new DownloadJob({
      out: opts.out,
      priority: opts.priority ?? 'foreground',
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      ...(opts.id !== undefined ? { id: opts.id } : {}),
      run: async job => await this.#runJob(job, manifest, opts)
    })
    if (opts.onProgress !== undefined) {
      const cb = opts.onProgress
      job.addEventListener('progress', evt => { cb((evt as CustomEvent<JobProgress>).detail) })
    }
    return job
  }

  async #runJob (job: DownloadJob, input: ManifestInput | Manifest, opts: DownloadOptions): Promise<DownloadResult> {
    const started = performance.now()
    const manifest = await this.#verify(input, opts.trustedKeys, opts.fetch ?? {})
    // a rolled-back version is refused before any byte is fetched, also for
    // a Manifest object verified elsewhere (the daemon's jobs)
    await this.versions.admit(manifest)
    job.setManifest(manifest)
    const out = await checkOutputPath(opts.out)
    await this.start()
    job.signal.throwIfAborted()
    const store = await this.#store(manifest)
    // small files are not worth peering for (Delivery Optimization's minimum file size to peer)
    const peered = manifest.size >= (this.init.minFileSizeToPeer ?? 0)
    const httpDelayMs = job.priority === 'background' ? (this.init.backgroundHttpDelayMs ?? DEFAULT_BACKGROUND_HTTP_DELAY_MS) : this.init.httpDelayMs
    const session = peered ? this.#swarm?.join(store, httpDelayMs !== undefined ? { httpDelayMs } : {}) : undefined
    // peers that claim pieces fetch from the origin too: they share its link, and its minimum rate
    const sharers = session !== undefined ? () => 1 + session.coordinator.claimants() : undefined
    const origins = manifest.origins.map(url => new HttpSource({ ...this.init.http, url, manifest, ...(sharers !== undefined ? { sharers } : {}) }))
    this.#bandwidth.jobStarted(job.priority)
    const total: DownloadStats = { contentId: manifest.contentId, size: manifest.size, bytesFromHttp: 0, bytesFromPeers: 0, piecesRejected: 0, peersBanned: 0, piecesReused: store.have.count, httpCut: emptyCutStats(), httpBytesDuplicate: 0, durationMs: 0, sources: [] }
    try {
      // one scheduler run per stretch between pauses; counters add up across runs
      for (;;) {
        await job.whilePaused()
        job.started()
        const downloader = new Downloader({
          store,
          sources: origins,
          ...(session !== undefined ? { policy: session.policy() } : { sequential: true }),
          limiter: this.#bandwidth.download(job.priority),
          onProgress: p => {
            const httpCut = emptyCutStats()
            addCutStats(httpCut, total.httpCut)
            addCutStats(httpCut, p.httpCut)
            job.report({
              ...p,
              httpCut,
              httpBytesDuplicate: total.httpBytesDuplicate + p.httpBytesDuplicate,
              bytesFromHttp: total.bytesFromHttp + p.bytesFromHttp,
              bytesFromPeers: total.bytesFromPeers + p.bytesFromPeers,
              piecesRejected: total.piecesRejected + p.piecesRejected,
              state: job.state,
              peers: session?.links.size ?? 0
            })
          },
          onBan: (source, reason) => { if (source.kind === 'peer') this.#swarm?.ban(source.id.slice('peer:'.length), reason) }
        })
        session?.attachDownloader(downloader)
        let paused = false
        try {
          await downloader.run(job.runSignal())
        } catch (err) {
          paused = job.state === 'paused' && !job.signal.aborted
          if (!paused) throw err
        } finally {
          session?.detachDownloader()
          addStats(total, downloader.stats())
        }
        if (!paused) break
      }
      await store.finalize(out, job.signal)
      const perPeer = session === undefined
        ? []
        : [...session.counters.perPeer].map(([peerId, c]) => ({ peerId, ...c }))
      for (const link of session?.links.values() ?? []) {
        const existing = perPeer.find(p => p.peerId === link.peerId)
        if (existing !== undefined) existing.received += link.bytesReceived
        else perPeer.push({ peerId: link.peerId, sent: 0, received: link.bytesReceived })
      }
      return { ...total, durationMs: Math.round(performance.now() - started), out, bytesToPeers: session?.counters.bytesToPeers ?? 0, perPeer }
    } finally {
      this.#bandwidth.jobEnded(job.priority)
      await Promise.allSettled(origins.map(async o => { await o.close() }))
    }
  }

  /** Bytes sent to and received from each peer since the node started. */
  peerTotals (): Map<string, { sent: number, received: number }> {
    return this.#swarm?.peerTotals() ?? new Map()
  }

  /** Node-wide counters: peer id, connections, uploads, bans. */
  stats (): NodeStats {
    return {
      peerId: this.peerId ?? null,
      listen: this.multiaddrs,
      connections: this.#p2p?.getConnections().length ?? 0,
      connectedPeers: new Set(this.#p2p?.getConnections().map(c => c.remotePeer.toString()) ?? []).size,
      ...this.counters(),
      links: this.#swarm?.stats().links ?? 0,
      contents: [...this.#stores.keys()]
    }
  }

  /**
   * The upload and ban counters of {@link stats} alone. The daemon samples
   * these every second; listing the addresses (libp2p enumerates the
   * network interfaces for a 0.0.0.0 listener) cost more than the rest.
   */
  counters (): Pick<NodeStats, 'bytesToPeers' | 'peersBanned'> {
    const sw = this.#swarm?.stats()
    return { bytesToPeers: sw?.bytesToPeers ?? 0, peersBanned: sw?.peersBanned ?? 0 }
  }

  /** What the cache holds (complete or partial). */
  async listCache (): Promise<CacheEntry[]> {
    return await listCache(this.cacheDir)
  }

  /** Stop sharing a content and close its store (before evicting it). */
  async forget (contentId: string): Promise<void> {
    this.#swarm?.leave(contentId)
    const store = this.#stores.get(contentId)
    this.#stores.delete(contentId)
    await store?.close()
  }

  /**
   * Share a content with the swarm. With `file`, a local copy is verified
   * piece by piece into the cache first (FILE_HASH_MISMATCH if it is not that
   * content); without it, the cache must already hold the content complete.
   */
  async seed (manifestIn: ManifestInput | Manifest, file?: string, opts: { trustedKeys?: string[], signal?: AbortSignal, fetch?: ManifestFetchOptions } = {}): Promise<Manifest> {
    const manifest = await this.#verify(manifestIn, opts.trustedKeys, opts.fetch)
    await this.start()
    const store = await this.#store(manifest)
    // importing a local copy accepts that version like a download does: an
    // older one is refused, a newer one raises the floor (THREATS T7). Content
    // already complete in the cache was accepted when it arrived; sharing it
    // again (peers may still be on it) accepts nothing new.
    if (!store.complete) await this.versions.admit(manifest)
    if (!store.complete && file === undefined) {
      throw new UsageError(`content ${manifest.contentId} is not complete in the cache (${store.have.count}/${store.have.length} pieces); give the file to seed from`)
    }
    if (!store.complete && file !== undefined) {
      const fh = await openFile(file, 'r').catch(() => { throw new UsageError(`cannot read ${file}`) })
      try {
        const st = await fh.stat()
        if (st.size !== manifest.size) throw new UsageError(`${file} is ${st.size} bytes; the manifest describes ${manifest.size}`)
        // puts resolve at group commits, so keep a window of them in flight
        const window: Array<Promise<void>> = []
        for (let i = 0; i < pieceCount(manifest); i++) {
          opts.signal?.throwIfAborted()
          if (store.have.get(i)) continue
          const buf = new Uint8Array(pieceLength(manifest, i))
          await fh.read(buf, 0, buf.length, pieceOffset(manifest, i))
          const put = store.put(i, buf).then(r => {
            if (!r.ok) throw new FileHashMismatchError(`${file} does not match the manifest (piece ${i} fails its hash)`)
          })
          put.catch(() => {}) // observed below; keeps a later failure from being "unhandled" meanwhile
          window.push(put)
          if (window.length >= SEED_IMPORT_WINDOW) await window.shift()
        }
        await Promise.all(window)
      } finally {
        await fh.close()
      }
    }
    this.#swarm?.join(store)
    return manifest
  }
}

/** Create a node (not yet started). */
export function createNode (init: NodeInit = {}): DoswarmNode {
  return new DoswarmNode(init)
}
