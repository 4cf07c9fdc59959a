/**
 * The JSON shapes of the daemon's local control API (docs/API.md, "Control
 * API"). Shared by the server, the CLI client and the Activity Monitor page.
 * Every request needs `Authorization: Bearer <token>` (the token file is
 * readable by the daemon's owner only).
 */

import type { HttpCutStats } from '../origin/cut.js'

/** Lifecycle of a download job. */
export type JobState = 'queued' | 'downloading' | 'paused' | 'complete' | 'failed' | 'cancelled'

export type Priority = 'foreground' | 'background'

/** A job as the API reports it (GET /v1/jobs, GET /v1/jobs/:id). */
export interface JobInfo {
  id: string
  contentId: string
  name: string
  out: string
  priority: Priority
  state: JobState
  size: number
  pieces: number
  have: number
  bytesDone: number
  bytesFromHttp: number
  bytesFromPeers: number
  bytesToPeers: number
  piecesRejected: number
  peersBanned: number
  /** HTTP requests cut before delivering their whole range, by why (docs/API.md, "httpCut") */
  httpCut: HttpCutStats
  /** bytes of whole pieces from the origin that had already come from a peer */
  httpBytesDuplicate: number
  /** connected peers sharing this content */
  peers: number
  /** per-peer bytes for this content */
  perPeer: Array<{ peerId: string, received: number, sent: number }>
  /** ms since the epoch */
  createdAt: number
  startedAt?: number
  finishedAt?: number
  durationMs?: number
  error?: { code: string, message: string }
}

/** Byte counters (machine-wide totals, one month, or one download). */
export interface Totals {
  bytesFromHttp: number
  bytesFromPeers: number
  bytesToPeers: number
  downloads: number
  piecesRejected: number
  peersBanned: number
  /** 100 · bytesFromPeers / (bytesFromHttp + bytesFromPeers), DO's PercentPeerCaching; 0 when nothing was downloaded */
  percentPeerCaching: number
}

/** GET /v1/stats */
export interface StatsInfo {
  peerId: string | null
  mode: 'http-only' | 'lan' | 'group'
  listen: string[]
  /** open libp2p connections */
  connections: number
  /** distinct peers with at least one open connection (two nodes that dialled each other at once may share two connections) */
  connectedPeers: number
  uptimeMs: number
  /** since the daemon's state directory was created */
  total: Totals
  /** the current calendar month (UTC), e.g. "2026-11" */
  month: { id: string } & Totals
  /** per day of the current month, "YYYY-MM-DD" → bytes */
  days: Array<{ day: string, bytesFromHttp: number, bytesFromPeers: number, bytesToPeers: number }>
  /** per peer, this month */
  peers: Array<{ peerId: string, received: number, sent: number }>
  cache: { bytes: number, entries: number, maxBytes: number }
}

/** POST /v1/jobs body. Exactly one of manifest / manifestPath / manifestUrl. */
export interface CreateJobRequest {
  /** base64 of the signed manifest bytes */
  manifest?: string
  /** a path the daemon can read */
  manifestPath?: string
  /** an https:// URL (optionally pinned with `pin`) */
  manifestUrl?: string
  /** base64 SHA-256 of the HTTPS server's SubjectPublicKeyInfo */
  pin?: string
  /** absolute output path, writable by the daemon */
  out: string
  /** @default 'foreground' */
  priority?: Priority
  /** trusted publisher keys for this job, in addition to the daemon's `trust` list */
  trust?: string[]
}

/** Error body of every non-2xx answer. */
export interface ApiError { error: { code: string, message: string } }
