/**
 * doswarm as a library. Import this module first thing (it installs the
 * Promise.withResolvers polyfill libp2p needs on Node 20).
 */
import './polyfill.js'
export * from './errors.js'
export * from './manifest/index.js'
export { createNode, DoswarmNode, type NodeInit, type DownloadOptions } from './node/node.js'
export { DownloadJob, type DownloadResult, type JobProgress, type JobState, type Priority } from './node/job.js'
export { loadManifestBytes, spkiPin, type ManifestFetchOptions, type ManifestInput } from './node/manifest-source.js'
export { defaultCacheDir } from './node/paths.js'
export { PieceStore, listCache, type CacheEntry } from './store/index.js'
export { HttpSource, type HttpSourceInit } from './origin/index.js'
export type { PieceSource, PieceData } from './source/index.js'
export type { DownloadProgress, DownloadStats } from './swarm/download.js'
