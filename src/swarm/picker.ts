/**
 * Piece picking, a pure policy (no I/O, injected randomness):
 * - peers get the rarest piece they can give, scanning in a fresh random order
 *   (random start, random stride) on every pick, so that nodes do not all
 *   chase the same piece — in particular not the first of a run of equally
 *   rare pieces that one node has just fetched from the origin;
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
  /**
   * No other node downloads this content now, so there is nobody to spread
   * pieces to: ties go to the lowest index, which lets the store's running
   * whole-file hash keep pace with the download. @default false
   */
  inOrder?: boolean
}

export class PiecePicker {
  readonly pieceCount: number
  readonly #availability: Uint16Array
  readonly #start: number
  readonly #random: () => number

  constructor (pieceCount: number, random: () => number = Math.random) {
    this.pieceCount = pieceCount
    this.#availability = new Uint16Array(pieceCount)
    this.#random = random
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
   *
   * Ties go to the first piece met in a scan whose start and stride are
   * drawn afresh for every pick. With one random start per node (as before
   * 3 Dec 2026), a run of equally rare pieces — the last range one node
   * fetched from the origin — was entered at its first piece by nearly every
   * node, so all of them asked the one holder for the same piece, then for
   * the next: the run spread one piece at a time (the simulator showed 9
   * such pieces taking ~30 s at the end of a 20-node download).
   */
  pickRarest (ctx: PickContext, maxDuplicates = 2): number | undefined {
    const n = this.pieceCount
    if (n === 0) return undefined
    const start = ctx.inOrder === true ? 0 : Math.floor(this.#random() * n) % n
    const stride = ctx.inOrder === true ? 1 : coprimeStride(n, this.#random())
    let best: number | undefined
    let bestScore = Infinity
    let endgame: number | undefined
    let endgameLoad = Infinity
    for (let k = 0, i = start; k < n; k++, i = (i + stride) % n) {
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

/**
 * A stride in [1, n) that visits every index of 0..n-1 once (coprime to n),
 * near `r`·n; r = 0 gives 1 (a plain scan).
 */
function coprimeStride (n: number, r: number): number {
  if (n <= 2) return 1
  let s = 1 + Math.floor(r * (n - 1)) % (n - 1)
  while (gcd(s, n) !== 1) s = s + 1 < n ? s + 1 : 1
  return s
}

function gcd (a: number, b: number): number {
  while (b !== 0) { const t = a % b; a = b; b = t }
  return a
}
