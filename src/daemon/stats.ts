/**
 * The daemon's statistics book: machine-wide totals, per month (UTC) and per
 * day, and per-peer contributions per month — what Delivery Optimization's
 * Activity Monitor shows. Fed with deltas; persisted crash-safely.
 */
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { nodeStoreFs, writeFileAtomic } from '../store/index.js'
import type { Totals } from './api-types.js'

export interface Delta {
  bytesFromHttp?: number
  bytesFromPeers?: number
  bytesToPeers?: number
  piecesRejected?: number
  peersBanned?: number
  downloads?: number
}

type Counters = Omit<Totals, 'percentPeerCaching'>
interface Day { bytesFromHttp: number, bytesFromPeers: number, bytesToPeers: number }
interface Month extends Counters { days: Record<string, Day>, peers: Record<string, { sent: number, received: number }> }
interface Book { version: 1, total: Counters, months: Record<string, Month> }

const zero = (): Counters => ({ bytesFromHttp: 0, bytesFromPeers: 0, bytesToPeers: 0, downloads: 0, piecesRejected: 0, peersBanned: 0 })
/** Months kept in the file. @default 24 */
export const MONTHS_KEPT = 24

/** `YYYY-MM` of a time, UTC. */
export const monthOf = (t: number): string => new Date(t).toISOString().slice(0, 7)
/** `YYYY-MM-DD` of a time, UTC. */
export const dayOf = (t: number): string => new Date(t).toISOString().slice(0, 10)

export function withPercent (c: Counters): Totals {
  const down = c.bytesFromHttp + c.bytesFromPeers
  return { ...c, percentPeerCaching: down === 0 ? 0 : Math.round(1000 * c.bytesFromPeers / down) / 10 }
}

export class StatsBook {
  readonly #file: string
  readonly #now: () => number
  #book: Book

  private constructor (file: string, book: Book, now: () => number) {
    this.#file = file
    this.#book = book
    this.#now = now
  }

  /** Load the book, or start an empty one when the file is missing or unreadable. */
  static async open (file: string, now: () => number = Date.now): Promise<StatsBook> {
    let book: Book = { version: 1, total: zero(), months: {} }
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as Book
      if (parsed?.version === 1 && typeof parsed.total === 'object' && typeof parsed.months === 'object') book = parsed
    } catch {
      // a missing or damaged book starts over: statistics are not worth refusing to run for
    }
    return new StatsBook(file, book, now)
  }

  #month (t: number): Month {
    const id = monthOf(t)
    let m = this.#book.months[id]
    if (m === undefined) {
      m = { ...zero(), days: {}, peers: {} }
      this.#book.months[id] = m
      const ids = Object.keys(this.#book.months).sort()
      for (const old of ids.slice(0, Math.max(0, ids.length - MONTHS_KEPT))) delete this.#book.months[old]
    }
    return m
  }

  add (d: Delta): void {
    const t = this.#now()
    const m = this.#month(t)
    for (const c of [this.#book.total, m]) {
      c.bytesFromHttp += d.bytesFromHttp ?? 0
      c.bytesFromPeers += d.bytesFromPeers ?? 0
      c.bytesToPeers += d.bytesToPeers ?? 0
      c.piecesRejected += d.piecesRejected ?? 0
      c.peersBanned += d.peersBanned ?? 0
      c.downloads += d.downloads ?? 0
    }
    const key = dayOf(t)
    const day = m.days[key] ?? (m.days[key] = { bytesFromHttp: 0, bytesFromPeers: 0, bytesToPeers: 0 })
    day.bytesFromHttp += d.bytesFromHttp ?? 0
    day.bytesFromPeers += d.bytesFromPeers ?? 0
    day.bytesToPeers += d.bytesToPeers ?? 0
  }

  addPeer (peerId: string, sent: number, received: number): void {
    if (sent === 0 && received === 0) return
    const m = this.#month(this.#now())
    const p = m.peers[peerId] ?? (m.peers[peerId] = { sent: 0, received: 0 })
    p.sent += sent
    p.received += received
  }

  snapshot (): { total: Totals, month: { id: string } & Totals, days: Array<{ day: string } & Day>, peers: Array<{ peerId: string, sent: number, received: number }> } {
    const id = monthOf(this.#now())
    const m = this.#month(this.#now())
    const { days, peers, ...counters } = m
    return {
      total: withPercent(this.#book.total),
      month: { id, ...withPercent(counters) },
      days: Object.entries(days).sort(([a], [b]) => a.localeCompare(b)).map(([day, d]) => ({ day, ...d })),
      peers: Object.entries(peers).map(([peerId, p]) => ({ peerId, ...p })).sort((a, b) => (b.received + b.sent) - (a.received + a.sent))
    }
  }

  async save (): Promise<void> {
    await writeFileAtomic(nodeStoreFs, dirname(this.#file), basename(this.#file), new TextEncoder().encode(JSON.stringify(this.#book)))
  }
}
