/**
 * {@link HttpSourceInit}: every option of the HTTP origin source, its
 * default, and the eager validation that turns a bad option into a
 * {@link UsageError} at construction rather than a confusing failure mid-download.
 */
import { UsageError } from '../errors.js'
import type { Manifest } from '../manifest/types.js'
import type { AddressClass } from './address.js'
import { classifyAddress } from './address.js'
import {
  DEFAULT_ALLOW_PRIVATE_REDIRECTS, DEFAULT_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_RETRIES, DEFAULT_MIN_RATE_BYTES_PER_SEC, DEFAULT_MIN_RATE_WINDOW_MS, DEFAULT_RETRY_AFTER_CAP_MS,
  DEFAULT_RETRY_BASE_MS, MAX_CONNECTIONS
} from './constants.js'

export interface HttpSourceInit {
  /** http(s) URL serving the whole file and answering Range requests. */
  url: string
  /** The verified manifest of the content the URL serves. */
  manifest: Manifest
  /** Parallel keep-alive connections per origin host. @default 4 */
  connections?: number
  /** No byte for this long (while ready to read) → stall. @default 15_000 */
  idleTimeoutMs?: number
  /** Averaged over `minRateWindowMs`; below it → stall. 0 disables. @default 32 KiB/s (32_768) */
  minRateBytesPerSec?: number
  /** @default 10_000 */
  minRateWindowMs?: number
  /** Retries per `fetch()` call for retryable failures. @default 3 */
  maxRetries?: number
  /** Exponential backoff base, full jitter. @default 250 */
  retryBaseMs?: number
  /** Retry-After honoured up to this; also caps the backoff. @default 10_000 */
  retryAfterCapMs?: number
  /** Redirect hops followed per request. @default 3 */
  maxRedirects?: number
  /** Allow a redirect from a public address into loopback/private/link-local space. @default false */
  allowPrivateRedirects?: boolean
  /** Test hook; the default classifies by IP ranges ({@link isPrivateAddress}). */
  classifyAddress?: (ip: string) => AddressClass
  /** Jitter source, for deterministic tests. @default Math.random */
  random?: () => number
  /**
   * How many nodes fetch from this origin right now, this one included (a
   * swarm knows from its peers' claims). They share its link, so the
   * minimum rate is divided among them: a connection that gets its share of
   * a congested link is not a stall. @default () => 1
   */
  sharers?: () => number
}

/** Options after defaults and validation. */
export interface HttpSourceOptions {
  url: URL
  manifest: Manifest
  connections: number
  idleTimeoutMs: number
  minRateBytesPerSec: number
  minRateWindowMs: number
  maxRetries: number
  retryBaseMs: number
  retryAfterCapMs: number
  maxRedirects: number
  allowPrivateRedirects: boolean
  classifyAddress: (ip: string) => AddressClass
  random: () => number
  sharers: () => number
}

/** Apply defaults and validate every option. @throws {UsageError} */
export function resolveOptions (init: HttpSourceInit): HttpSourceOptions {
  if (init === null || typeof init !== 'object') throw new UsageError('HttpSource: init must be an object')
  const url = parseOriginUrl(init.url)
  const m = init.manifest
  if (m === null || typeof m !== 'object' || !Number.isSafeInteger(m.size) || m.size < 0 ||
      !Number.isSafeInteger(m.pieceSize) || m.pieceSize < 1) {
    throw new UsageError('HttpSource: manifest must have an integer size >= 0 and pieceSize >= 1')
  }
  return {
    url,
    manifest: m,
    connections: int('connections', init.connections, DEFAULT_CONNECTIONS, 1, MAX_CONNECTIONS),
    idleTimeoutMs: num('idleTimeoutMs', init.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 1),
    minRateBytesPerSec: num('minRateBytesPerSec', init.minRateBytesPerSec, DEFAULT_MIN_RATE_BYTES_PER_SEC, 0),
    minRateWindowMs: num('minRateWindowMs', init.minRateWindowMs, DEFAULT_MIN_RATE_WINDOW_MS, 1),
    maxRetries: int('maxRetries', init.maxRetries, DEFAULT_MAX_RETRIES, 0, 1000),
    retryBaseMs: num('retryBaseMs', init.retryBaseMs, DEFAULT_RETRY_BASE_MS, 0),
    retryAfterCapMs: num('retryAfterCapMs', init.retryAfterCapMs, DEFAULT_RETRY_AFTER_CAP_MS, 0),
    maxRedirects: int('maxRedirects', init.maxRedirects, DEFAULT_MAX_REDIRECTS, 0, 100),
    allowPrivateRedirects: bool('allowPrivateRedirects', init.allowPrivateRedirects, DEFAULT_ALLOW_PRIVATE_REDIRECTS),
    classifyAddress: fn('classifyAddress', init.classifyAddress, classifyAddress),
    random: fn('random', init.random, Math.random),
    sharers: fn('sharers', init.sharers, () => 1)
  }
}

/** Parse and check an origin URL: absolute, http or https. */
export function parseOriginUrl (raw: unknown): URL {
  if (typeof raw !== 'string') throw new UsageError('HttpSource: url must be a string')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`HttpSource: invalid url ${JSON.stringify(raw)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`HttpSource: url must be http or https, got ${url.protocol}`)
  }
  return url
}

function num (name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new UsageError(`HttpSource: ${name} must be a finite number >= ${min}, got ${String(v)}`)
  }
  return v
}

function int (name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`HttpSource: ${name} must be an integer in ${min}..${max}, got ${String(v)}`)
  }
  return v
}

function bool (name: string, v: boolean | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw new UsageError(`HttpSource: ${name} must be a boolean`)
  return v
}

function fn<F extends (...args: never[]) => unknown> (name: string, v: F | undefined, dflt: F): F {
  if (v === undefined) return dflt
  if (typeof v !== 'function') throw new UsageError(`HttpSource: ${name} must be a function`)
  return v
}
