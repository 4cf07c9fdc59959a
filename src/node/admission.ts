/**
 * Inbound admission control (THREATS R1, R2, R9): which raw inbound sockets
 * may start a Noise handshake, decided when the socket arrives — before any
 * crypto — from counts that include the handshakes still in flight.
 *
 * - **Per host:** at most `maxConnectionsPerIp` inbound connections from one
 *   IP address, open *or* still handshaking (counting only open ones let a
 *   host with 16 dials in flight finish 37 handshakes against a cap of 32).
 * - **Pending slots, shared fairly:** at most `maxIncomingPendingConnections`
 *   handshakes in flight. When they are all taken, a socket from a host that
 *   holds at least two fewer of them than the host holding the most takes
 *   that host's oldest one (which is closed). A handshake slowloris from one
 *   host therefore delays nobody else; before, it refused every other host
 *   until the upgrade timeout freed a slot.
 * - **Connection table, shared fairly:** at most `maxConnections` connections
 *   (open in either direction, plus inbound handshakes in flight). When the
 *   table is full, a socket from a host with at least two fewer connections
 *   than the host holding the most gets one of that host's: its oldest
 *   pending handshake, else its open inbound connection with the fewest
 *   streams (newest first). Our own dials beyond the cap do the same, so
 *   outbound connections take precedence over inbound floods. A flood from a
 *   few hosts can fill the table but no longer lock out a host that has
 *   little of it (before, libp2p refused every inbound socket at a full
 *   table, an honest newcomer included).
 *
 * - **Handshake budget:** a Noise handshake and the connection set-up after
 *   it cost the victim's event loop ~9 ms each (measured, 2-core machine).
 *   Sockets from hosts we do not know yet start their handshakes from a
 *   token bucket (`inboundHandshakeBurst` at once, then one per
 *   `inboundHandshakeRefillMs`); the others wait, holding their pending slot,
 *   and the waiting socket of the host with the fewest connections goes
 *   first. Known hosts — an address we dialled, or one whose connection
 *   carries the doswarm protocol — skip the queue, so a single-host swarm's
 *   burst of 20 dials is not slowed once its first connection is up.
 *
 * - **Unproven connections per host:** a host we do not know yet may have at
 *   most `maxUnprovenPerIp` inbound connections that have not shown they speak
 *   doswarm (identify listing `/doswarm/swarm/1.0.0`, or a doswarm stream),
 *   counting its handshakes in flight. Its further sockets wait without a
 *   handshake; once it holds that many unproven connections older than
 *   `unprovenGraceMs` — they had their chance to identify and did not — its
 *   waiting and new sockets are refused at once, before any crypto, until
 *   one of them is older than `unprovenCloseMs`: then a new socket takes
 *   the oldest one's place (which is closed), so the host is never locked
 *   out for good. A flood of fresh identities from one host costs the
 *   victim `maxUnprovenPerIp` handshakes instead of `maxConnectionsPerIp`
 *   (profiled: the Noise handshakes were most of the victim's extra CPU
 *   under R1 and R9), and a single-host swarm is not slowed: its first
 *   connection identifies within milliseconds, which makes the host known.
 *
 * The "two fewer" rule keeps hosts of equal share from taking slots from
 * each other back and forth. libp2p's own caps are set above these (see
 * {@link libp2pCeilings}) so that this module decides and libp2p's remain
 * as a backstop.
 */
import type { Connection, MultiaddrConnection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { PROTOCOL_ID } from '../protocol/constants.js'

/** The limits admission control enforces (a subset of `P2PLimits`). */
export interface AdmissionLimits {
  /** connections in the table (both directions) plus inbound handshakes in flight */
  maxConnections: number
  /** inbound connections from one IP address, open or handshaking */
  maxConnectionsPerIp: number
  /** inbound handshakes (Noise + yamux negotiation) in flight */
  maxIncomingPendingConnections: number
  /** handshakes of unknown hosts that may start at once */
  inboundHandshakeBurst: number
  /** ms per further handshake of unknown hosts (the bucket's refill) */
  inboundHandshakeRefillMs: number
  /** inbound connections (handshakes in flight included) of an unknown host that have not proven they speak doswarm */
  maxUnprovenPerIp: number
  /** ms an unproven connection may take to prove itself before its host's further sockets are refused at once */
  unprovenGraceMs: number
  /** ms after which an idle unproven connection is closed when another socket from its host arrives */
  unprovenCloseMs: number
}

/** Why a socket was refused or a connection closed; counted in {@link AdmissionStats}. */
export type AdmissionEvent = 'refused-host' | 'refused-pending' | 'refused-full' | 'refused-unproven' | 'evicted-pending' | 'evicted-open' | 'evicted-unproven' | 'queued'

/** Counters since the node started. */
export type AdmissionStats = Record<AdmissionEvent, number> & { admitted: number }

/**
 * libp2p's connection-manager caps to configure beside admission control:
 * above ours, so that libp2p does not refuse a socket that admission would
 * admit by evicting another, yet still finite (a backstop).
 */
export function libp2pCeilings (limits: AdmissionLimits): { maxConnections: number, maxIncomingPendingConnections: number } {
  return {
    maxConnections: limits.maxConnections + limits.maxIncomingPendingConnections,
    maxIncomingPendingConnections: 2 * limits.maxIncomingPendingConnections
  }
}

interface Entry {
  maConn: MultiaddrConnection
  ip: string
  /** admission order, for "oldest pending" */
  seq: number
  /** passed the upgraded-connection gate: now a connection in the table */
  upgraded: boolean
  /** waiting for a handshake token: resolve(false) lets it start, resolve(true) refuses it */
  waiting?: (deny: boolean) => void
}

/** The IP address of a `/ip4/…` or `/ip6/…` multiaddr. */
function ipOf (addr: Multiaddr): string | undefined {
  const first = addr.getComponents()[0]
  return first !== undefined && (first.name === 'ip4' || first.name === 'ip6') ? first.value : undefined
}

/**
 * Admission state of one node. Wire {@link InboundAdmission.admit} into the
 * gater's `denyInboundConnection` (it returns true to refuse),
 * {@link InboundAdmission.upgraded} into `denyInboundUpgradedConnection`,
 * and {@link InboundAdmission.enforceTable} to the node's `connection:open`.
 */
export class InboundAdmission {
  private readonly limits: AdmissionLimits
  private readonly connections: () => readonly Connection[]
  private readonly live = new Map<MultiaddrConnection, Entry>()
  private readonly evicted = new WeakSet<object>()
  /** connections that showed they speak doswarm (identify, or a doswarm stream) */
  private readonly proven = new WeakSet<Connection>()
  private seq = 0
  private readonly counts: AdmissionStats = { admitted: 0, 'refused-host': 0, 'refused-pending': 0, 'refused-full': 0, 'refused-unproven': 0, 'evicted-pending': 0, 'evicted-open': 0, 'evicted-unproven': 0, queued: 0 }
  private tokens: number
  private tokensAt = performance.now()
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly onEvent: ((event: AdmissionEvent, ip: string) => void) | undefined

  /**
   * @param connections the node's open connections (`node.getConnections()`)
   * @param onEvent told about every refusal and eviction (for logs)
   */
  constructor (limits: AdmissionLimits, connections: () => readonly Connection[], onEvent?: (event: AdmissionEvent, ip: string) => void) {
    this.limits = { ...limits }
    this.connections = connections
    this.onEvent = onEvent
    this.tokens = limits.inboundHandshakeBurst
  }

  /** Counters of admissions, refusals and evictions so far. */
  stats (): AdmissionStats {
    return { ...this.counts }
  }

  /** Inbound handshakes in flight now. */
  pending (): number {
    return this.entries().filter(e => !e.upgraded).length
  }

  /**
   * A raw inbound socket arrived: decide before any crypto. Returns true to
   * refuse it. May close another host's pending handshake or connection to
   * make room (see the module comment).
   */
  admit (maConn: MultiaddrConnection): boolean | Promise<boolean> {
    const ip = ipOf(maConn.remoteAddr)
    if (ip === undefined) return false
    const live = this.entries()
    const fromIp = live.filter(e => e.ip === ip).length
    if (fromIp >= this.limits.maxConnectionsPerIp) return this.refuse('refused-host', ip)

    const pending = live.filter(e => !e.upgraded)
    if (pending.length >= this.limits.maxIncomingPendingConnections) {
      const mine = pending.filter(e => e.ip === ip).length
      const heavy = heaviest(pending)
      if (heavy === undefined || heavy.count < mine + 2) return this.refuse('refused-pending', ip)
      this.evictPending(heavy.ip, pending)
    }

    const open = this.connections().filter(c => c.status === 'open' && !this.evicted.has(c))
    if (open.length + this.pending() >= this.limits.maxConnections) {
      const inbound = this.entries()
      const heavy = heaviest(inbound)
      if (heavy === undefined || heavy.count < fromIp + 2 || !this.evictFrom(heavy.ip)) return this.refuse('refused-full', ip)
    }

    const known = this.known(ip)
    if (!known && this.idleUnproven(ip) >= this.limits.maxUnprovenPerIp) {
      // an idle unproven connection old enough gives its slot to this socket: the host is never locked
      // out for good (a flood from it costs at most maxUnprovenPerIp handshakes per unprovenCloseMs)
      const stale = this.unprovenOpen(ip).filter(c => c.timeline.open <= Date.now() - this.limits.unprovenCloseMs)
        .sort((a, b) => a.timeline.open - b.timeline.open)[0]
      if (stale === undefined) return this.refuse('refused-unproven', ip)
      this.evicted.add(stale)
      stale.abort(new Error('connection did not speak doswarm; its slot went to a newer one from the same host'))
      this.count('evicted-unproven', ip)
    }

    const entry: Entry = { maConn, ip, seq: this.seq++, upgraded: false }
    this.live.set(maConn, entry)
    this.counts.admitted++
    if (known || (this.unproven(ip) <= this.limits.maxUnprovenPerIp && this.takeToken())) return false
    this.count('queued', ip)
    return new Promise<boolean>(resolve => {
      const done = (deny: boolean): void => {
        entry.waiting = undefined
        maConn.removeEventListener('close', onClose)
        resolve(deny)
      }
      // the upgrade timed out or the peer left while waiting
      const onClose = (): void => { done(true) }
      entry.waiting = done
      maConn.addEventListener('close', onClose)
      this.schedule()
    })
  }

  /** Stop the handshake queue's timer; waiting sockets are refused. */
  close (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    for (const e of this.live.values()) e.waiting?.(true)
  }

  /**
   * A connection showed it speaks doswarm (identify listed the protocol):
   * its host becomes known, and its waiting sockets are started now.
   */
  prove (conn: Connection): void {
    this.proven.add(conn)
    if (this.entries().some(e => e.waiting !== undefined && e.ip === ipOf(conn.remoteAddr))) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.schedule()
    }
  }

  private isProven (c: Connection): boolean {
    if (this.proven.has(c)) return true
    if (!c.streams.some(s => s.protocol === PROTOCOL_ID)) return false
    this.proven.add(c)
    return true
  }

  /** A host we dialled, or one of whose connections speaks doswarm. */
  private known (ip: string): boolean {
    return this.connections().some(c => c.status === 'open' && !this.evicted.has(c) && ipOf(c.remoteAddr) === ip &&
      (c.direction === 'outbound' || this.isProven(c)))
  }

  /** Open inbound connections from `ip` that have not proven they speak doswarm. */
  private unprovenOpen (ip: string): Connection[] {
    return this.connections().filter(c => c.direction === 'inbound' && c.status === 'open' && !this.evicted.has(c) &&
      ipOf(c.remoteAddr) === ip && !this.isProven(c))
  }

  /** `ip`'s unproven inbound connections plus its handshakes in flight (started, not waiting for a token). */
  private unproven (ip: string): number {
    const handshaking = this.entries().filter(e => e.ip === ip && !e.upgraded && e.waiting === undefined).length
    return handshaking + this.unprovenOpen(ip).length
  }

  /** `ip`'s unproven inbound connections that had `unprovenGraceMs` to prove themselves. */
  private idleUnproven (ip: string): number {
    const before = Date.now() - this.limits.unprovenGraceMs
    return this.unprovenOpen(ip).filter(c => c.timeline.open <= before).length
  }

  private refill (): void {
    const now = performance.now()
    this.tokens = Math.min(this.limits.inboundHandshakeBurst, this.tokens + (now - this.tokensAt) / this.limits.inboundHandshakeRefillMs)
    this.tokensAt = now
  }

  private takeToken (): boolean {
    this.refill()
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /**
   * Start waiting handshakes while tokens last (the host with the fewest
   * connections first; a host at its unproven cap waits, and is refused once
   * its unproven connections are idle); wake up for the next token, or to
   * look again at hosts that were at their cap.
   */
  private schedule (): void {
    if (this.timer !== undefined) return
    for (;;) {
      const live = this.entries()
      for (const e of live) {
        if (e.waiting === undefined) continue
        // a host that became known while its sockets waited (its first connection now speaks doswarm)
        if (this.known(e.ip)) e.waiting(false)
        else if (this.idleUnproven(e.ip) >= this.limits.maxUnprovenPerIp) {
          this.live.delete(e.maConn)
          this.count('refused-unproven', e.ip)
          e.waiting(true)
        }
      }
      const waiting = live.filter(e => e.waiting !== undefined)
      if (waiting.length === 0) return
      const eligible = waiting.filter(e => this.unproven(e.ip) < this.limits.maxUnprovenPerIp)
      if (eligible.length === 0 || !this.takeToken()) {
        const wait = eligible.length === 0 ? this.limits.inboundHandshakeRefillMs : Math.ceil((1 - this.tokens) * this.limits.inboundHandshakeRefillMs)
        this.timer = setTimeout(() => { this.timer = undefined; this.schedule() }, Math.max(1, wait))
        this.timer.unref?.()
        return
      }
      const started = (ip: string): number => live.filter(e => e.ip === ip && e.waiting === undefined).length
      const next = eligible.sort((a, b) => started(a.ip) - started(b.ip) || a.seq - b.seq)[0]
      next?.waiting?.(false)
    }
  }

  /** The handshake of an admitted socket finished: it is now a connection in the table. */
  upgraded (maConn: MultiaddrConnection): void {
    const e = this.live.get(maConn)
    if (e !== undefined) e.upgraded = true
  }

  /**
   * A connection opened (either direction). If the table is over
   * `maxConnections` — our own dials may take it there — close inbound
   * connections of the host holding the most until it is not.
   */
  enforceTable (): void {
    for (;;) {
      const open = this.connections().filter(c => c.status === 'open' && !this.evicted.has(c)).length
      if (open + this.pending() <= this.limits.maxConnections) return
      const heavy = heaviest(this.entries())
      if (heavy === undefined || !this.evictFrom(heavy.ip)) return
    }
  }

  /** Live admitted sockets (pending or upgraded); forgets closed ones. */
  private entries (): Entry[] {
    const out: Entry[] = []
    for (const [maConn, e] of this.live) {
      if (maConn.status !== 'open' || this.evicted.has(maConn)) this.live.delete(maConn)
      else out.push(e)
    }
    return out
  }

  private refuse (event: AdmissionEvent, ip: string): true {
    this.count(event, ip)
    return true
  }

  private count (event: AdmissionEvent, ip: string): void {
    this.counts[event]++
    this.onEvent?.(event, ip)
  }

  /** Close the oldest pending handshake of `ip`. */
  private evictPending (ip: string, pending: Entry[]): boolean {
    const oldest = pending.filter(e => e.ip === ip).sort((a, b) => a.seq - b.seq)[0]
    if (oldest === undefined) return false
    this.evicted.add(oldest.maConn)
    this.live.delete(oldest.maConn)
    oldest.waiting?.(true)
    oldest.maConn.abort(new Error('handshake slot given to a host with fewer'))
    this.count('evicted-pending', ip)
    return true
  }

  /** Give up one of `ip`'s slots: its oldest pending handshake, else an open inbound connection. */
  private evictFrom (ip: string): boolean {
    if (this.evictPending(ip, this.entries().filter(e => !e.upgraded))) return true
    const candidates = this.connections()
      .filter(c => c.direction === 'inbound' && c.status === 'open' && !this.evicted.has(c) && ipOf(c.remoteAddr) === ip)
      .sort((a, b) => a.streams.length - b.streams.length || b.timeline.open - a.timeline.open)
    const victim = candidates[0]
    if (victim === undefined) return false
    this.evicted.add(victim)
    // its socket leaves `live` when it closes (entries() drops closed ones)
    victim.abort(new Error('connection slot given to a host with fewer'))
    this.count('evicted-open', ip)
    return true
  }
}

const byNode = new WeakMap<object, InboundAdmission>()

/** Remember the admission control of a libp2p node ({@link admissionOf} finds it). */
export function registerAdmission (node: object, admission: InboundAdmission): void {
  byNode.set(node, admission)
}

/** The admission control of a node made by `createP2PNode`, for diagnostics (stats) and tests. */
export function admissionOf (node: object): InboundAdmission | undefined {
  return byNode.get(node)
}

/** The IP holding the most entries, and how many. */
function heaviest (entries: Entry[]): { ip: string, count: number } | undefined {
  const by = new Map<string, number>()
  for (const e of entries) by.set(e.ip, (by.get(e.ip) ?? 0) + 1)
  let best: { ip: string, count: number } | undefined
  for (const [ip, count] of by) if (best === undefined || count > best.count) best = { ip, count }
  return best
}
