/**
 * Source health, a pure policy. Two different things go wrong with sources:
 * - integrity: a source delivered bytes that failed the piece hash. Never ask
 *   it for that piece again; after `banThreshold` bad pieces it is banned
 *   (THREATS T1: each bad source costs at most banThreshold·pieceSize).
 *   Pieces come whole from one source, so the sender is always the sole
 *   source of a bad piece and every bad piece counts fully.
 * - availability: a fetch failed (timeout, reset, 5xx after retries). After
 *   `maxConsecutiveFailures` failures in a row the source is retired; any
 *   success resets the count. A retirement with a cool-down (peers: a busy
 *   peer times out, then recovers) ends after the cool-down, doubled for
 *   each retirement of the same source; one without (the origin, a fatal
 *   error) lasts for the download. {@link SourceHealth.revive} ends it at
 *   once (the peer linked again).
 */
/** Bad pieces after which a source is banned. @default 2 */
export const DEFAULT_BAN_THRESHOLD = 2
/** Failed fetches in a row after which a source is retired. @default 3 */
export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 3

export interface SourceHealthInit {
  banThreshold?: number
  maxConsecutiveFailures?: number
  /** clock in ms. @default performance.now */
  now?: () => number
}

interface Record {
  badPieces: Set<number>
  failuresInRow: number
  banned: boolean
  retired: boolean
  /** when a retirement ends by itself (Infinity: it does not) */
  retiredUntil: number
  retirements: number
  lastError?: string
}

const NO_PIECES: ReadonlySet<number> = new Set()

export class SourceHealth {
  readonly banThreshold: number
  readonly maxConsecutiveFailures: number
  readonly #sources = new Map<string, Record>()
  readonly #now: () => number

  constructor (init: SourceHealthInit = {}) {
    this.#now = init.now ?? (() => performance.now())
    this.banThreshold = init.banThreshold ?? DEFAULT_BAN_THRESHOLD
    this.maxConsecutiveFailures = init.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES
    if (!Number.isInteger(this.banThreshold) || this.banThreshold < 1) throw new RangeError('banThreshold must be an integer ≥ 1')
    if (!Number.isInteger(this.maxConsecutiveFailures) || this.maxConsecutiveFailures < 1) throw new RangeError('maxConsecutiveFailures must be an integer ≥ 1')
  }

  #get (id: string): Record {
    let r = this.#sources.get(id)
    if (r === undefined) { r = { badPieces: new Set(), failuresInRow: 0, banned: false, retired: false, retiredUntil: Infinity, retirements: 0 }; this.#sources.set(id, r) }
    return r
  }

  /** The record, with a retirement whose cool-down has passed ended. */
  #current (id: string): Record | undefined {
    const r = this.#sources.get(id)
    if (r?.retired === true && this.#now() >= r.retiredUntil) { r.retired = false; r.failuresInRow = 0 }
    return r
  }

  /** Record a piece from `id` that failed its hash. Returns true if this bans the source. */
  badPiece (id: string, index: number): boolean {
    const r = this.#get(id)
    r.badPieces.add(index)
    if (!r.banned && r.badPieces.size >= this.banThreshold) { r.banned = true; return true }
    return false
  }

  /** Ban `id` outright (a protocol violation). Returns true if it was not banned before. */
  ban (id: string, reason: string): boolean {
    const r = this.#get(id)
    r.lastError = reason
    if (r.banned) return false
    r.banned = true
    return true
  }

  /**
   * Record a failed fetch. Returns true if this retires the source.
   * @param cooldownMs a retirement ends after this long (doubled per earlier
   *   retirement of `id`); undefined or `fatal`: it lasts for the download
   */
  failure (id: string, reason: string, fatal = false, cooldownMs?: number): boolean {
    this.#current(id)
    const r = this.#get(id)
    r.failuresInRow++
    r.lastError = reason
    if (!r.retired && (fatal || r.failuresInRow >= this.maxConsecutiveFailures)) {
      r.retired = true
      r.retiredUntil = fatal || cooldownMs === undefined ? Infinity : this.#now() + cooldownMs * 2 ** r.retirements
      r.retirements++
      return true
    }
    return false
  }

  /** End a retirement now (the source came back: a peer linked again). Bans and bad pieces stay. */
  revive (id: string): void {
    const r = this.#sources.get(id)
    if (r === undefined) return
    r.retired = false
    r.failuresInRow = 0
  }

  /** Record a verified piece from `id`. */
  success (id: string): void { this.#get(id).failuresInRow = 0 }

  /** May `id` be asked for anything at all? */
  usable (id: string): boolean {
    const r = this.#current(id)
    return r === undefined || (!r.banned && !r.retired)
  }

  /** May `id` be asked for piece `index`? */
  mayAsk (id: string, index: number): boolean {
    const r = this.#current(id)
    return r === undefined || (!r.banned && !r.retired && !r.badPieces.has(index))
  }

  /** Pieces `id` sent a bad copy of (never asked of it again); empty if none. Owned by the health record: do not mutate. */
  badPieces (id: string): ReadonlySet<number> { return this.#sources.get(id)?.badPieces ?? NO_PIECES }
  isBanned (id: string): boolean { return this.#sources.get(id)?.banned === true }
  badPieceCount (id: string): number { return this.#sources.get(id)?.badPieces.size ?? 0 }
  lastError (id: string): string | undefined { return this.#sources.get(id)?.lastError }
  /** Ids of banned sources. */
  banned (): string[] { return [...this.#sources].filter(([, r]) => r.banned).map(([id]) => id) }
}
