/**
 * Inbound admission control (src/node/admission.ts; THREATS R1, R2, R9) with
 * real libp2p nodes on loopback: attack traffic comes from 127.0.0.66/67
 * ("other hosts"), the honest peer from 127.0.0.1. Each test shows a case
 * where libp2p's own limits refused the honest peer or let a host handshake
 * past its cap.
 */
import '../../src/polyfill.js'
import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { admissionOf } from '../../src/node/admission.js'
import { createP2PNode, type P2PNode, type P2PNodeInit } from '../../src/node/libp2p.js'
import { PROTOCOL_ID } from '../../src/protocol/constants.js'
import { cleanup, connectionFlood, slowloris } from '../helpers/attacks.js'
import type { RawYamuxPeer } from '../helpers/raw-yamux-peer.js'
import { waitFor } from '../helpers/swarm-fixture.js'

const dirs: string[] = []
let nodes: Array<Libp2p<any>> = []
let attackers: RawYamuxPeer[] = []

async function node (init: Partial<P2PNodeInit> = {}): Promise<P2PNode> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-admission-'))
  dirs.push(dir)
  const n = await createP2PNode({ stateDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, log: () => {}, ...init })
  nodes.push(n)
  return n
}

/** The unproven-connection cap lifted, for tests of the other rules (their floods come from one host that never identifies). */
const UNCAPPED = { maxUnprovenPerIp: 1000 }

function addrOf (n: Libp2p<any>): string {
  return n.getMultiaddrs()[0]?.toString() ?? assert.fail('no listen address')
}

function fromHost (n: Libp2p<any>, ip: string): number {
  return n.getConnections().filter(c => c.status === 'open' && c.remoteAddr.toString().startsWith(`/ip4/${ip}/`)).length
}

describe('inbound admission control', () => {
  afterEach(async () => {
    await cleanup(attackers)
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    nodes = []
    attackers = []
  })
  after(async () => { await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) })) })

  it('handshakes still in flight count toward the per-host cap, so a host cannot finish more Noise handshakes than it may keep', { timeout: 30_000 }, async () => {
    const cap = 4
    // denyPeer runs after the Noise handshake: the identities it sees are the handshakes the victim paid for
    const handshaken = new Set<string>()
    const victim = await node({ limits: { maxConnectionsPerIp: cap, ...UNCAPPED }, denyPeer: id => { handshaken.add(id); return false } })
    const flood = await connectionFlood(addrOf(victim), ['127.0.0.66'], 24, 16)
    attackers = flood.peers
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.ok(fromHost(victim, '127.0.0.66') <= cap, `${fromHost(victim, '127.0.0.66')} connections from one host`)
    // libp2p's cap counted open connections only: 16 dials in flight all got a handshake
    assert.ok(handshaken.size <= cap, `${handshaken.size} Noise handshakes for a host capped at ${cap}`)
    assert.ok((admissionOf(victim)?.stats()['refused-host'] ?? 0) >= 24 - cap)
  })

  it('pending slots full of one host\'s stalled handshakes: another host still gets in, taking that host\'s oldest slot', { timeout: 30_000 }, async () => {
    const pending = 8
    // a long upgrade timeout: nothing frees a slot while the test runs, except admission
    const victim = await node({ limits: { maxIncomingPendingConnections: pending, inboundUpgradeTimeout: 60_000 } })
    const attack = await slowloris(addrOf(victim), '127.0.0.67', pending + 4)
    // the excess sockets are refused: the slowloris holds every pending slot
    await waitFor(() => attack.stillOpen() === pending, 5000, 'the excess slowloris sockets to be refused')
    const honest = await node()
    try {
      const conn = await honest.dial(multiaddr(addrOf(victim)), { signal: AbortSignal.timeout(20_000) })
      assert.equal(conn.status, 'open')
      // the slot came from the slowloris (one socket closed), not from the upgrade timeout (60 s)
      assert.equal(attack.stillOpen(), pending - 1, 'slowloris sockets still open')
      assert.equal(admissionOf(victim)?.stats()['evicted-pending'], 1)
      await waitFor(() => fromHost(victim, '127.0.0.1') === 1, 5000, 'the honest connection at the victim')
      assert.equal(admissionOf(victim)?.pending(), pending - 1, 'pending at the victim')
    } finally {
      await cleanup([], attack.sockets)
    }
  })

  it('a full connection table: a newcomer from a host with fewer connections takes one of the host holding the most', { timeout: 30_000 }, async () => {
    const max = 8
    const victim = await node({ limits: { maxConnections: max, maxConnectionsPerIp: max, ...UNCAPPED } })
    const flood = await connectionFlood(addrOf(victim), ['127.0.0.66'], max, 4)
    attackers = flood.peers
    await waitFor(() => fromHost(victim, '127.0.0.66') === max, 5000, 'the flood to fill the table')
    const honest = await node()
    // libp2p refused every inbound socket at a full table, this one included
    const conn = await honest.dial(multiaddr(addrOf(victim)), { signal: AbortSignal.timeout(20_000) })
    await waitFor(() => fromHost(victim, '127.0.0.1') === 1 && fromHost(victim, '127.0.0.66') === max - 1, 5000, 'the flooding host to give up one slot')
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(conn.status, 'open')
    assert.equal(victim.getConnections().length, max)
    // the flooder cannot take it back: it would only move a slot between hosts of near-equal share
    const again = await connectionFlood(addrOf(victim), ['127.0.0.66'], 4, 4)
    attackers.push(...again.peers)
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(fromHost(victim, '127.0.0.1'), 1)
    assert.ok(victim.getConnections().length <= max)
  })

  it('our own dial beyond maxConnections closes an inbound connection of the host holding the most', { timeout: 30_000 }, async () => {
    const max = 8
    const victim = await node({ limits: { maxConnections: max, maxConnectionsPerIp: max, ...UNCAPPED } })
    const flood = await connectionFlood(addrOf(victim), ['127.0.0.66'], max, 4)
    attackers = flood.peers
    await waitFor(() => fromHost(victim, '127.0.0.66') === max, 5000, 'the flood to fill the table')
    const other = await node()
    const conn = await victim.dial(multiaddr(addrOf(other)), { signal: AbortSignal.timeout(20_000) })
    await waitFor(() => fromHost(victim, '127.0.0.66') === max - 1, 5000, 'an inbound flood connection to be closed')
    assert.equal(conn.status, 'open')
    assert.equal(victim.getConnections().length, max)
  })
})

/** Stop the nodes (a stopped victim refuses its waiting sockets, so the floods' dials end), then the attackers. */
async function stopVictimsFirst (): Promise<void> {
  await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  await cleanup(attackers)
  nodes = []
  attackers = []
}

describe('inbound handshake budget', () => {
  afterEach(stopVictimsFirst)

  it('hosts not known yet share a handshake budget: beyond the burst their handshakes wait, holding a pending slot', { timeout: 30_000 }, async () => {
    const handshaken = new Set<string>()
    // no refill while the test runs: only the burst may start
    const victim = await node({ limits: { inboundHandshakeBurst: 2, inboundHandshakeRefillMs: 600_000, ...UNCAPPED }, denyPeer: id => { handshaken.add(id); return false } })
    const flood = connectionFlood(addrOf(victim), ['127.0.0.66'], 6, 6)
    try {
      await waitFor(() => admissionOf(victim)?.stats().queued === 4, 10_000, 'four sockets to wait for a handshake token')
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(handshaken.size, 2, 'handshakes started beyond the burst')
      assert.equal(admissionOf(victim)?.pending(), 4)
    } finally {
      // stopping the victim refuses the waiting sockets; the flood's dials then fail
      await victim.stop()
      attackers = (await flood).peers
    }
  })

  it('a host we dialled skips the handshake queue', { timeout: 40_000 }, async () => {
    const victim = await node({ limits: { inboundHandshakeBurst: 1, inboundHandshakeRefillMs: 600_000, ...UNCAPPED } })
    const other = await node()
    await victim.dial(multiaddr(addrOf(other)), { signal: AbortSignal.timeout(20_000) })
    // the flood takes the only token; its other sockets wait
    const flood = connectionFlood(addrOf(victim), ['127.0.0.66'], 3, 3)
    try {
      await waitFor(() => admissionOf(victim)?.stats().queued === 2, 10_000, 'the flood to wait for tokens')
      // 127.0.0.1 is known (the victim dialled `other` there): a newcomer from it starts at once
      const late = await node()
      const conn = await late.dial(multiaddr(addrOf(victim)), { signal: AbortSignal.timeout(20_000) })
      assert.equal(conn.status, 'open')
      assert.equal(admissionOf(victim)?.stats().queued, 2)
    } finally {
      await victim.stop()
      attackers = (await flood).peers
    }
  })
})

describe('unproven connections per host', () => {
  afterEach(stopVictimsFirst)

  it('a host of fresh identities that never identify gets maxUnprovenPerIp handshakes; its other sockets are refused before any crypto', { timeout: 40_000 }, async () => {
    const handshaken = new Set<string>()
    const victim = await node({ limits: { maxUnprovenPerIp: 2, unprovenGraceMs: 500 }, denyPeer: id => { handshaken.add(id); return false } })
    const flood = await connectionFlood(addrOf(victim), ['127.0.0.66'], 24, 16)
    attackers = flood.peers
    // without the cap: the burst of 8 and its refill (8/s) up to the per-host cap of 32
    assert.equal(handshaken.size, 2, 'Noise handshakes for a host that never identifies')
    assert.equal(fromHost(victim, '127.0.0.66'), 2)
    const stats = admissionOf(victim)?.stats()
    assert.equal(stats?.['refused-unproven'], 22, JSON.stringify(stats))
  })

  it('doswarm nodes on one host all get in: identify listing the doswarm protocol makes the host known', { timeout: 40_000 }, async () => {
    // one handshake for an unknown host, and a grace that outlasts the test: the others get in only through the proof
    const victim = await node({ limits: { maxUnprovenPerIp: 1, unprovenGraceMs: 60_000, inboundUpgradeTimeout: 60_000 } })
    const spokes = await Promise.all(Array.from({ length: 6 }, async () => await node()))
    // doswarm nodes register the swarm protocol at start (identify lists it); they open no stream here
    await Promise.all(spokes.map(async s => { await s.handle(PROTOCOL_ID, () => {}) }))
    const dials = await Promise.allSettled(spokes.map(async s => await s.dial(multiaddr(addrOf(victim)), { signal: AbortSignal.timeout(20_000) })))
    assert.deepEqual(dials.map(d => d.status), spokes.map(() => 'fulfilled'))
    await waitFor(() => fromHost(victim, '127.0.0.1') === 6, 5000, 'six connections at the victim')
  })

  it('plain libp2p nodes (no doswarm protocol) on one host: only maxUnprovenPerIp get in while the first ones stay unproven', { timeout: 40_000 }, async () => {
    const victim = await node({ limits: { maxUnprovenPerIp: 1, unprovenGraceMs: 60_000, inboundUpgradeTimeout: 60_000 } })
    const spokes = await Promise.all(Array.from({ length: 4 }, async () => await node()))
    const ctl = new AbortController()
    const dials = spokes.map(async s => await s.dial(multiaddr(addrOf(victim)), { signal: ctl.signal }))
    try {
      await waitFor(() => fromHost(victim, '127.0.0.1') === 1, 5000, 'the first connection')
      await new Promise(resolve => setTimeout(resolve, 1000))
      assert.equal(fromHost(victim, '127.0.0.1'), 1)
      assert.equal(admissionOf(victim)?.stats().queued, 3)
    } finally {
      ctl.abort()
      await Promise.allSettled(dials)
    }
  })

  it('a host at its unproven cap is not locked out for good: after unprovenCloseMs a new socket takes its oldest idle connection\'s place', { timeout: 40_000 }, async () => {
    const victim = await node({ limits: { maxUnprovenPerIp: 1, unprovenGraceMs: 100, unprovenCloseMs: 1500 } })
    const addr = multiaddr(addrOf(victim))
    const first = await node()
    await first.dial(addr, { signal: AbortSignal.timeout(10_000) })
    await waitFor(() => fromHost(victim, '127.0.0.1') === 1, 5000, 'the first connection')
    await new Promise(resolve => setTimeout(resolve, 300))
    // idle past the grace, not yet past unprovenCloseMs: refused before the handshake
    const second = await node()
    await assert.rejects(second.dial(addr, { signal: AbortSignal.timeout(10_000) }))
    assert.equal(admissionOf(victim)?.stats()['refused-unproven'], 1)
    await new Promise(resolve => setTimeout(resolve, 1500))
    const third = await node()
    const conn = await third.dial(addr, { signal: AbortSignal.timeout(10_000) })
    assert.equal(conn.status, 'open')
    await waitFor(() => first.getConnections().length === 0, 5000, 'the idle connection to be closed')
    assert.equal(admissionOf(victim)?.stats()['evicted-unproven'], 1)
    await waitFor(() => fromHost(victim, '127.0.0.1') === 1 && victim.getConnections()[0]?.remotePeer.equals(third.peerId) === true, 5000, 'the new connection at the victim')
  })
})
