/**
 * Counters of HTTP requests cut short: a Range request that ended before
 * every byte it asked for had been read and delivered. The origin sent (or
 * had queued) bytes that no verified piece came from, so these are the
 * origin bandwidth a download wasted, counted by why the request ended.
 */

/**
 * Why an HTTP request was cut (docs/API.md, "httpCut"):
 *
 * - `claim-clash`: another node claimed the same pieces and its claim won
 * - `source-unusable`: the origin was retired or banned for this download
 * - `ended`: the download ended, was paused or cancelled, or the source closed
 * - `stall-idle`: no body byte came for the idle timeout (a retry resumes at the first piece not delivered)
 * - `stall-rate`: the body came slower than the minimum rate over its window (retried the same way)
 * - `error`: the connection failed or the response was refused (truncated, reset, bad headers)
 */
export const HTTP_CUT_REASONS = ['claim-clash', 'source-unusable', 'ended', 'stall-idle', 'stall-rate', 'error'] as const
export type HttpCutReason = typeof HTTP_CUT_REASONS[number]

export interface HttpCutCount {
  /** requests cut for this reason */
  requests: number
  /** body bytes received and thrown away: the part of a piece that was never completed (or a completed one never taken) */
  bytesDiscarded: number
  /** bytes of the requested range never read (the origin may have sent part of them into socket buffers) */
  bytesUnread: number
}

export type HttpCutStats = Record<HttpCutReason, HttpCutCount>

export function emptyCutStats (): HttpCutStats {
  const out: Partial<HttpCutStats> = {}
  for (const r of HTTP_CUT_REASONS) out[r] = { requests: 0, bytesDiscarded: 0, bytesUnread: 0 }
  return out as HttpCutStats
}

/** `into += sign × from`, per reason (sign -1 subtracts a baseline). */
export function addCutStats (into: HttpCutStats, from: HttpCutStats, sign: 1 | -1 = 1): void {
  for (const r of HTTP_CUT_REASONS) {
    into[r].requests += sign * from[r].requests
    into[r].bytesDiscarded += sign * from[r].bytesDiscarded
    into[r].bytesUnread += sign * from[r].bytesUnread
  }
}

/** The sum of several counters (absent ones count as zero). */
export function sumCutStats (all: Iterable<HttpCutStats | undefined>): HttpCutStats {
  const total = emptyCutStats()
  for (const c of all) if (c !== undefined) addCutStats(total, c)
  return total
}

export function isCutReason (x: unknown): x is HttpCutReason {
  return typeof x === 'string' && (HTTP_CUT_REASONS as readonly string[]).includes(x)
}
