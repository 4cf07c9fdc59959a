/**
 * A standalone download: verify the manifest, open the cache entry, fetch the
 * missing pieces from the HTTP origins, prove the whole file and hand it over
 * by atomic rename. The swarm plugs peers in through the same scheduler.
 */
import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { UsageError } from '../errors.js'
import { verifyManifest, type Manifest } from '../manifest/index.js'
import { HttpSource, type HttpSourceInit } from '../origin/index.js'
import { PieceStore } from '../store/index.js'
import { Downloader, type DownloadPolicy, type DownloadProgress, type DownloadStats } from '../swarm/download.js'
import type { PieceSource } from '../source/index.js'
import { defaultCacheDir } from './paths.js'

export interface DownloadFileOptions {
  /** Signed manifest bytes, or an already verified manifest. */
  manifest: Uint8Array | Manifest
  /** Trusted publisher keys (`ed25519:…`); required when `manifest` is bytes. */
  trustedKeys?: string[]
  /** Where the verified file goes. Never created for a failed download. */
  out: string
  /** @default per-user cache directory ({@link defaultCacheDir}) */
  cacheDir?: string
  signal?: AbortSignal
  onProgress?: (p: DownloadProgress) => void
  /** Options for every HTTP origin source (timeouts, retries, redirects). */
  http?: Omit<HttpSourceInit, 'url' | 'manifest'>
  /** Extra sources (peers) and swarm policy; used by the swarm. */
  sources?: PieceSource[]
  policy?: DownloadPolicy
  /** Called once the store is open (the swarm serves from it). */
  onStore?: (store: PieceStore, downloader: Downloader) => void
}

export interface DownloadResult extends DownloadStats {
  out: string
}

/** Check the output path before any byte is fetched. */
export async function checkOutputPath (out: string): Promise<string> {
  const abs = resolve(out)
  const parent = await stat(dirname(abs)).catch(() => undefined)
  if (parent?.isDirectory() !== true) throw new UsageError(`output directory ${dirname(abs)} does not exist`)
  const existing = await stat(abs).catch(() => undefined)
  if (existing?.isDirectory() === true) throw new UsageError(`output ${abs} is a directory`)
  return abs
}

/** Download, verify and deliver one file. Rejects with typed errors. */
export async function downloadFile (opts: DownloadFileOptions): Promise<DownloadResult> {
  const started = performance.now()
  const manifest = opts.manifest instanceof Uint8Array
    ? verifyManifest(opts.manifest, { trustedKeys: opts.trustedKeys ?? [] })
    : opts.manifest
  const out = await checkOutputPath(opts.out)
  const store = await PieceStore.open({ cacheDir: opts.cacheDir ?? defaultCacheDir(), manifest })
  const origins = manifest.origins.map(url => new HttpSource({ ...opts.http, url, manifest }))
  try {
    const downloader = new Downloader({
      store,
      sources: [...(opts.sources ?? []), ...origins],
      ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {})
    })
    opts.onStore?.(store, downloader)
    const stats = await downloader.run(opts.signal)
    await store.finalize(out, opts.signal)
    return { ...stats, durationMs: Math.round(performance.now() - started), out }
  } finally {
    await Promise.allSettled(origins.map(o => o.close()))
    await store.close()
  }
}
