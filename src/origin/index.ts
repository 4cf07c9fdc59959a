/**
 * The HTTP origin source: a CDN or web server, untrusted, used as a
 * {@link PieceSource} like any peer (and as the source of last resort).
 *
 * - `http-source.ts` — {@link HttpSource}: retries, redirects, keep-alive pool
 * - `range-request.ts` — one Range exchange: strict 206 checks, piece cutting, backpressure
 * - `stall.ts` — idle timeout and minimum-rate rule
 * - `http-range.ts` — Range / Content-Range as pure functions
 * - `plan.ts` — {@link planRanges}, the coalescing policy
 * - `backoff.ts` — {@link backoffDelay}, Retry-After, abortable sleep
 * - `address.ts`, `redirect.ts` — the SSRF guard on redirects
 * - `options.ts`, `constants.ts` — {@link HttpSourceInit} and its defaults
 */
export { HttpSource, type HttpSourceStats } from './http-source.js'
export type { HttpSourceInit } from './options.js'
export { planRanges, type PieceRun } from './plan.js'
export { isPrivateAddress, classifyAddress, type AddressClass } from './address.js'
export { backoffDelay, parseRetryAfter } from './backoff.js'
export * from './constants.js'
