/**
 * Resource-exhaustion attacks (THREATS R1–R3, R6, R9) against a node's TCP
 * listener, scripted for the tests in test/security/ and bench/security.ts.
 * Attack traffic comes from other loopback addresses (127.0.0.66, …) so the
 * victim can tell the attacking "hosts" from the honest ones on 127.0.0.1.
 */
import { connect, type Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { YAMUX_FLAG_SYN, YAMUX_PING, startRawYamuxPeer, yamuxHeader, type RawConnection, type RawYamuxPeer } from './raw-yamux-peer.js'

const WINDOW_UPDATE = 1

/** Host and port of a `/ip4/…/tcp/…` address. */
export function hostPort (addr: string): { host: string, port: number } {
  const c = multiaddr(addr).getComponents()
  return { host: c[0]?.value ?? '', port: Number(c[1]?.value) }
}

export interface FloodResult {
  attempted: number
  /** dials that completed Noise + yamux */
  upgraded: number
  peers: RawYamuxPeer[]
  connections: RawConnection[]
}

/**
 * R1: from each of `hosts`, `perHost` fully handshaken connections to `addr`,
 * each by a fresh identity (libp2p keeps one connection per peer id, so a
 * flood by one identity is no flood), `concurrency` dials at a time per host.
 */
export async function connectionFlood (addr: string, hosts: string[], perHost: number, concurrency = 16): Promise<FloodResult> {
  const peers: RawYamuxPeer[] = []
  const connections: RawConnection[] = []
  let attempted = 0
  await Promise.all(hosts.map(async host => {
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < perHost) {
        next++
        attempted++
        const peer = await startRawYamuxPeer({ localAddress: host })
        peers.push(peer)
        try { connections.push(await peer.connect(addr)) } catch {}
      }
    }))
  }))
  return { attempted, upgraded: connections.length, peers, connections }
}

/** R9: `count` identities from one host, one connection each. */
export async function sybil (addr: string, host: string, count: number): Promise<FloodResult> {
  const peers: RawYamuxPeer[] = []
  const connections: RawConnection[] = []
  for (let i = 0; i < count; i++) {
    const peer = await startRawYamuxPeer({ localAddress: host })
    peers.push(peer)
    try { connections.push(await peer.connect(addr)) } catch {}
  }
  return { attempted: count, upgraded: connections.length, peers, connections }
}

export interface SlowlorisResult {
  sockets: Socket[]
  /** ms from connect to close, per socket that the victim closed */
  closedAfterMs: number[]
  /** sockets the victim closed within 1 s of accepting (pending slots full, or per-host refusal) */
  refusedAtOnce: () => number
  stillOpen: () => number
}

/**
 * R2: `count` raw TCP sockets that send half a multistream-select header
 * and then nothing, so the Noise handshake never starts.
 */
export async function slowloris (addr: string, from: string, count: number): Promise<SlowlorisResult> {
  const { host, port } = hostPort(addr)
  const sockets: Socket[] = []
  const closedAfterMs: number[] = []
  await Promise.all(Array.from({ length: count }, async () => {
    const t0 = performance.now()
    const s = connect({ host, port, localAddress: from })
    s.on('error', () => {})
    s.on('close', () => { closedAfterMs.push(performance.now() - t0) })
    await new Promise<void>(resolve => { s.once('connect', () => { s.write(Buffer.from('\x13/multistr')); resolve() }); s.once('close', () => { resolve() }) })
    sockets.push(s)
  }))
  return {
    sockets,
    closedAfterMs,
    refusedAtOnce: () => closedAfterMs.filter(ms => ms < 1000).length,
    stillOpen: () => sockets.filter(s => !s.destroyed && s.readyState === 'open').length
  }
}

/** R3: open `count` streams at once with raw SYN window updates (no protocol negotiation behind them). */
export function streamFlood (raw: RawConnection, count: number, firstId = 1001): void {
  const frames = new Uint8Array(12 * count)
  for (let i = 0; i < count; i++) frames.set(yamuxHeader(WINDOW_UPDATE, YAMUX_FLAG_SYN, firstId + 2 * i, 0), 12 * i)
  raw.rawSend(frames)
}

/**
 * R6: stop reading, then send pings in batches of 5000 until `total` or the
 * victim closes the connection. Returns the pings sent.
 */
export async function pingFloodNoRead (raw: RawConnection, total: number): Promise<number> {
  raw.pause()
  const batch = new Uint8Array(12 * 5000)
  for (let i = 0; i < 5000; i++) batch.set(yamuxHeader(YAMUX_PING, YAMUX_FLAG_SYN, 0, i), i * 12)
  let sent = 0
  while (sent < total && !raw.closed()) {
    let ok: boolean
    try { ok = raw.rawSend(batch) } catch { break }
    sent += 5000
    if (!ok) await raw.drained()
    await new Promise(resolve => setImmediate(resolve))
  }
  return sent
}

/** Stop attacker peers and destroy sockets. */
export async function cleanup (peers: RawYamuxPeer[], sockets: Socket[] = []): Promise<void> {
  for (const s of sockets) s.destroy()
  await Promise.allSettled(peers.map(async p => { await p.stop() }))
}
