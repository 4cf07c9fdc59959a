/**
 * Waiting between retries: exponential backoff with full jitter, the
 * server's Retry-After, and an abortable sleep.
 */
import { AbortedError } from '../errors.js'

/**
 * Delay before retry number `attempt` (0 for the first retry): a uniform
 * random value in `[0, min(capMs, baseMs · 2^attempt))` — "full jitter", which
 * spreads many clients' retries out instead of having them hit a recovering
 * origin in lock-step. Pure: the randomness comes from `random`.
 */
export function backoffDelay (attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt))
  if (!(ceiling > 0)) return 0
  // Clamp a misbehaving random source into [0, 1) so the delay stays below the cap.
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON)
  return Math.floor(r * ceiling)
}

/**
 * Milliseconds a `Retry-After` header value asks for (delta-seconds or an
 * HTTP-date), capped at `capMs`; `undefined` when absent or unparseable
 * (then the caller's backoff applies). A date in the past means "now".
 */
export function parseRetryAfter (value: string | string[] | undefined, capMs: number, nowMs = Date.now()): number | undefined {
  if (value === undefined || Array.isArray(value)) return undefined
  const v = value.trim()
  let ms: number
  if (/^\d+$/.test(v)) {
    ms = Number(v) * 1000
  } else {
    // HTTP-date forms all start with a day name; Date.parse alone would accept "-5" as a year.
    if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i.test(v)) return undefined
    const at = Date.parse(v)
    if (Number.isNaN(at)) return undefined
    ms = at - nowMs
  }
  return Math.min(capMs, Math.max(0, ms))
}

/** Resolve after `ms`, or reject with {@link AbortedError} as soon as `signal` fires. */
export async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new AbortedError()
  if (ms <= 0) return
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(new AbortedError())
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
