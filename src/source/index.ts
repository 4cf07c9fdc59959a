/**
 * The one interface every source of pieces implements — the HTTP origin and,
 * in the swarm, each remote peer. The scheduler asks "which pieces can you
 * give" and "give me pieces first..first+count-1"; everything a source yields
 * is untrusted until the store's choke point ({@link PieceStore.put}) accepts it.
 */
import type { HttpCutStats } from '../origin/cut.js'

export type SourceKind = 'http' | 'peer'

/** The bytes a source claims are piece `index`. Unverified. */
export interface PieceData {
  index: number
  bytes: Uint8Array
  /**
   * True when the source keeps no reference to `bytes` and `bytes` spans a
   * buffer of its own: the consumer may then take that buffer instead of
   * copying it (the store moves it to a hash worker). @default false
   */
  owned?: boolean
}

export interface PieceSource {
  /** Stable id used in stats and bans, e.g. `http:https://cdn/x` or `peer:12D3…`. */
  readonly id: string
  readonly kind: SourceKind
  /** True when this source can currently give piece `index`. */
  has: (index: number) => boolean
  /**
   * How many fetches the scheduler may have outstanding on this source at
   * once (HTTP: parallel connections; peers: request pipeline depth, which may
   * adapt to the peer's speed). Read on every scheduling pass.
   */
  readonly maxConcurrent?: number
  /**
   * `performance.now()` before which the source asked not to be given new
   * requests (a peer that answered BUSY). Read on every scheduling pass.
   */
  readonly busyUntil?: number
  /** Requests cut short, by why, since the source was created (HTTP sources; src/origin/cut.ts). */
  readonly stats?: { readonly cut?: HttpCutStats }
  /**
   * Fetch the run of pieces `first .. first+count-1`. Yields each piece as soon
   * as its bytes are complete, in index order. May stop early by throwing
   * (an {@link OriginError} or {@link ProtocolError}; SourceBusyError: refused for now, not failed); pieces already yielded stand.
   * Must honour `signal` promptly and never buffer more than one piece beyond
   * the one being yielded.
   */
  fetch: (first: number, count: number, signal: AbortSignal) => AsyncIterable<PieceData>
}
