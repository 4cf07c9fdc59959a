/**
 * Flow-level network model. Every transfer is a flow from one endpoint's
 * uplink to another's downlink. A flow's rate is its equal share of the
 * tighter of the two: min(up[src] / flowsUp[src], down[dst] / flowsDown[dst]),
 * recomputed for every flow that shares an endpoint whenever a flow starts or
 * ends. This is not max-min fairness (capacity a flow cannot use because it
 * is limited at its other end is not handed to the others), so it errs on the
 * slow side. No TCP dynamics: a flow runs at its share from its first byte.
 */
import type { Engine, SimEvent } from './engine.js'

export interface Flow {
  src: number
  dst: number
  /** bytes still to send */
  remaining: number
  /** bytes sent so far */
  sent: number
  /** bytes per ms */
  rate: number
  last: number
  ev: SimEvent | undefined
  done: () => void
  /** index in the src up-list / dst down-list (swap-remove) */
  ui: number
  di: number
  active: boolean
}

export class FlowNet {
  readonly #engine: Engine
  /** bytes per ms */
  readonly #up: Float64Array
  readonly #down: Float64Array
  readonly #ups: Flow[][]
  readonly #downs: Flow[][]
  /** bytes each endpoint has sent (partial flows included) */
  readonly sentBy: Float64Array

  /** Endpoints 0..n-1; capacities in bytes per ms (Infinity: unlimited). */
  constructor (engine: Engine, up: number[], down: number[]) {
    this.#engine = engine
    this.#up = Float64Array.from(up)
    this.#down = Float64Array.from(down)
    this.#ups = up.map(() => [])
    this.#downs = down.map(() => [])
    this.sentBy = new Float64Array(up.length)
  }

  /** Flows currently arriving at `dst`. */
  downFlows (dst: number): number { return this.#downs[dst].length }

  /** Flows currently leaving `src`. */
  upFlows (src: number): number { return this.#ups[src].length }

  /** Start sending `bytes` from `src` to `dst`; `done` runs when the last byte is through. */
  start (src: number, dst: number, bytes: number, done: () => void): Flow {
    const now = this.#engine.now
    const f: Flow = { src, dst, remaining: bytes, sent: 0, rate: 0, last: now, ev: undefined, done, ui: this.#ups[src].length, di: this.#downs[dst].length, active: true }
    this.#ups[src].push(f)
    this.#downs[dst].push(f)
    this.#reshare(src, dst)
    return f
  }

  /** Stop a flow early (its bytes so far stay counted). */
  cancel (f: Flow): void {
    if (!f.active) return
    this.#advance(f, this.#engine.now)
    this.#remove(f)
    this.#reshare(f.src, f.dst)
  }

  #remove (f: Flow): void {
    f.active = false
    if (f.ev !== undefined) f.ev.cancelled = true
    const u = this.#ups[f.src]
    const lu = u.pop() as Flow
    if (lu !== f) { u[f.ui] = lu; lu.ui = f.ui }
    const d = this.#downs[f.dst]
    const ld = d.pop() as Flow
    if (ld !== f) { d[f.di] = ld; ld.di = f.di }
  }

  #advance (f: Flow, now: number): void {
    const moved = Math.min(f.remaining, f.rate * (now - f.last))
    f.remaining -= moved
    f.sent += moved
    this.sentBy[f.src] += moved
    f.last = now
  }

  #rate (f: Flow): number {
    return Math.min(this.#up[f.src] / this.#ups[f.src].length, this.#down[f.dst] / this.#downs[f.dst].length)
  }

  #reshare (src: number, dst: number): void {
    for (const f of this.#ups[src]) this.#update(f)
    for (const f of this.#downs[dst]) if (f.src !== src) this.#update(f)
  }

  #update (f: Flow): void {
    const now = this.#engine.now
    const rate = this.#rate(f)
    if (rate === f.rate && f.ev !== undefined) return
    this.#advance(f, now)
    f.rate = rate
    if (f.ev !== undefined) f.ev.cancelled = true
    f.ev = this.#engine.at(now + f.remaining / rate, () => { this.#finish(f) })
  }

  #finish (f: Flow): void {
    if (!f.active) return
    this.sentBy[f.src] += f.remaining
    f.sent += f.remaining
    f.remaining = 0
    this.#remove(f)
    this.#reshare(f.src, f.dst)
    f.done()
  }
}
