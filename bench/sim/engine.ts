/**
 * A discrete-event engine with virtual time: events sit in a binary heap
 * ordered by (time, insertion order), so events at the same instant run in
 * the order they were scheduled. Nothing here touches a real clock.
 */

/** A scheduled callback; `cancelled` events are skipped when popped. */
export interface SimEvent {
  t: number
  seq: number
  fn: () => void
  cancelled: boolean
}

export class Engine {
  #now = 0
  #seq = 0
  #heap: SimEvent[] = []
  /** events run so far */
  executed = 0

  /** Current virtual time, ms. */
  get now (): number { return this.#now }
  get pending (): number { return this.#heap.length }

  /** Run `fn` at virtual time `t` (never earlier than now). */
  at (t: number, fn: () => void): SimEvent {
    const ev: SimEvent = { t: t < this.#now ? this.#now : t, seq: this.#seq++, fn, cancelled: false }
    const h = this.#heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(ev, h[p])) break
      h[i] = h[p]
      i = p
    }
    h[i] = ev
    return ev
  }

  /** Run `fn` after `delay` ms of virtual time. */
  after (delay: number, fn: () => void): SimEvent { return this.at(this.#now + delay, fn) }

  /** Run `fn` every `period` ms, first at now + `first`, while it returns true. */
  every (period: number, first: number, fn: () => boolean): void {
    const tick = (): void => { if (fn()) this.after(period, tick) }
    this.after(first, tick)
  }

  #pop (): SimEvent | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    let i = 0
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && less(h[r], h[l]) ? r : l
      if (!less(h[c], last)) break
      h[i] = h[c]
      i = c
    }
    h[i] = last
    return top
  }

  /**
   * Run events in time order until none is left, `stop()` returns true
   * (checked after each event), or virtual time would pass `until`.
   */
  run (until = Infinity, stop: () => boolean = () => false): void {
    for (;;) {
      const top = this.#heap[0]
      if (top === undefined || top.t > until) return
      const ev = this.#pop() as SimEvent
      if (ev.cancelled) continue
      this.#now = ev.t
      this.executed++
      ev.fn()
      if (stop()) return
    }
  }
}

function less (a: SimEvent, b: SimEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq)
}
