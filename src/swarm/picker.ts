/**
 * Piece picking, a pure policy (no I/O, injected randomness):
 * - peers get the rarest piece they can give, scanning from a random start so
 *   nodes that begin together do not all chase the same piece;
 * - the HTTP origin gets runs of consecutive pieces (one Range request each);
 * - endgame: once every missing piece is in flight, a piece may be asked of a
 *   second source, and the first verified copy wins.
 */
export interface PickContext {
  /** True when we already hold piece i (durable). */
  have: (i: number) => boolean
  /** Number of requests currently out for piece i. */
  inflight: (i: number) => number
  /** True when the source being served may be asked for piece i. */
  eligible: (i: number) => boolean
  /** True when every missing piece is already requested somewhere (endgame). @default false */
  endgame?: boolean
}

export class PiecePicker {
  readonly pieceCount: number
  readonly #availability: Uint16Array
  readonly #start: number

  constructor (pieceCount: number, random: () => number = Math.random) {
    this.pieceCount = pieceCount
    this.#availability = new Uint16Array(pieceCount)
    this.#start = Math.floor(random() * pieceCount)
  }

  /** A peer announced it holds piece i. */
  addAvailable (i: number): void { if (this.#availability[i] < 0xffff) this.#availability[i]++ }
  /** A peer holding piece i left. */
  removeAvailable (i: number): void { if (this.#availability[i] > 0) this.#availability[i]-- }
  /** How many connected peers hold piece i. */
  availability (i: number): number { return this.#availability[i] }

  /**
   * Rarest eligible piece that nobody is fetching yet; in endgame (every
   * missing piece is in flight somewhere) the eligible in-flight piece with
   * fewest requests, as long as it has fewer than `maxDuplicates` out.
   */
  pickRarest (ctx: PickContext, maxDuplicates = 2): number | undefined {
    let best: number | undefined
    let bestScore = Infinity
    let endgame: number | undefined
    let endgameLoad = Infinity
    for (let k = 0; k < this.pieceCount; k++) {
      const i = (this.#start + k) % this.pieceCount
      // cheap tests first: this runs for every piece, for every source, on every pass
      if (ctx.have(i)) continue
      const load = ctx.inflight(i)
      if (load === 0) {
        const score = this.#availability[i]
        if (score >= bestScore || !ctx.eligible(i)) continue
        best = i; bestScore = score
        if (score <= 1) break
      } else if (ctx.endgame === true && best === undefined && load < maxDuplicates && load < endgameLoad && ctx.eligible(i)) {
        endgame = i
        endgameLoad = load
      }
    }
    return best ?? endgame
  }

  /**
   * A run of consecutive eligible pieces nobody is fetching, at most
   * `maxRun` long, starting from the first such piece after the random start.
   */
  pickRun (ctx: PickContext, maxRun: number): { first: number, count: number } | undefined {
    for (let k = 0; k < this.pieceCount; k++) {
      const i = (this.#start + k) % this.pieceCount
      if (!this.#free(ctx, i)) continue
      let count = 1
      while (count < maxRun && i + count < this.pieceCount && this.#free(ctx, i + count)) count++
      return { first: i, count }
    }
    return undefined
  }

  #free (ctx: PickContext, i: number): boolean {
    return !ctx.have(i) && ctx.inflight(i) === 0 && ctx.eligible(i)
  }
}
