/**
 * Defaults and fixed limits of the HTTP origin source, in one place so the
 * TSDoc `@default` tags on {@link HttpSourceInit} and the code cannot drift
 * apart (a test compares them).
 */

/** Parallel keep-alive connections per origin host. @default 4 */
export const DEFAULT_CONNECTIONS = 4

/** No byte for this long (while we are ready to read) is a stall. @default 15_000 */
export const DEFAULT_IDLE_TIMEOUT_MS = 15_000

/**
 * Minimum body rate, averaged over {@link DEFAULT_MIN_RATE_WINDOW_MS}; below it
 * the request is a stall (THREATS T5: a trickling origin must be dropped).
 * @default 32 KiB/s
 */
export const DEFAULT_MIN_RATE_BYTES_PER_SEC = 32 * 1024

/** Window over which the minimum rate is averaged. @default 10_000 */
export const DEFAULT_MIN_RATE_WINDOW_MS = 10_000

/** Retries per `fetch()` call for retryable failures. @default 3 */
export const DEFAULT_MAX_RETRIES = 3

/** Base of the exponential backoff (full jitter). @default 250 */
export const DEFAULT_RETRY_BASE_MS = 250

/**
 * Longest single wait before a retry: caps a server's Retry-After and the
 * exponential backoff alike, so a hostile origin cannot park a fetch for hours.
 * @default 10_000
 */
export const DEFAULT_RETRY_AFTER_CAP_MS = 10_000

/** Redirect hops followed per request. @default 3 */
export const DEFAULT_MAX_REDIRECTS = 3

/** Whether a public origin may redirect into loopback/private/link-local space. @default false */
export const DEFAULT_ALLOW_PRIVATE_REDIRECTS = false

/** Upper bound accepted for `connections`; more is never useful against one origin. */
export const MAX_CONNECTIONS = 64

/**
 * Largest redirect/error body we drain (and throw away) so the keep-alive
 * connection can be reused; anything larger, or of unknown length, is cut off
 * by closing the connection instead.
 */
export const MAX_DISCARD_BODY_BYTES = 64 * 1024

/** Status codes followed as redirects. */
export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308])

/** Error code of the connect-time refusal of a private address (see `address-guard.ts`). */
export const PRIVATE_ADDRESS_REFUSED = 'EDOSWARM_PRIVATE_ADDRESS'
