/**
 * THREATS R1, R2, R3, R6, R9 (R4, R7, R8 are in test/swarm/malicious-flood,
 * R5 in yamux-frame): each attack runs against a real doswarm node on
 * loopback while an honest download from (or by) the victim goes on beside
 * it. Every test checks the limit that must hold, that the honest download
 * finishes with the right bytes, and reports event-loop delay p99 and RSS
 * growth (asserted only with wide margins: a hang or a runaway buffer fails,
 * a slow shared machine does not). Speed figures come from bench/security.ts.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { DEFAULT_LIMITS } from '../../src/node/libp2p.js'
import { createNode } from '../../src/node/node.js'
import { cleanup, connectionFlood, pingFloodNoRead, slowloris, streamFlood, sybil } from '../helpers/attacks.js'
import { describe as line, honestSwarm, watchProcess } from '../helpers/attack-watch.js'
import { startRawYamuxPeer } from '../helpers/raw-yamux-peer.js'
import { waitFor } from '../helpers/swarm-fixture.js'

/** Wide bounds: they catch a hot loop or an unbounded buffer, not a slow machine. */
const MAX_P99_MS = 2000
const MAX_RSS_GROWTH_MIB = 128

function fromIp (node: { multiaddrs: string[] } & { swarm?: { node: { getConnections: () => Array<{ remoteAddr: { toString: () => string } }> } } }, ip: string): number {
  return (node.swarm?.node.getConnections() ?? []).filter(c => c.remoteAddr.toString().startsWith(`/ip4/${ip}/`)).length
}

test('R1 connection flood from one host: at most maxConnectionsPerIp from it; the honest download completes', { timeout: 60_000 }, async (t) => {
  const hs = await honestSwarm()
  t.after(async () => { await hs.fx.close() })
  const addr = hs.fx.addr(hs.seeder)
  const watch = watchProcess()
  let peak = 0
  const sampler = setInterval(() => { peak = Math.max(peak, fromIp(hs.seeder, '127.0.0.66')) }, 10)
  const [flood, honest] = await Promise.all([connectionFlood(addr, ['127.0.0.66'], 80), hs.download('r1')])
  clearInterval(sampler)
  peak = Math.max(peak, fromIp(hs.seeder, '127.0.0.66'))
  const w = watch.stop()
  t.after(async () => { await cleanup(flood.peers) })
  t.diagnostic(`${flood.attempted} dials, ${flood.upgraded} upgraded, at most ${peak} open at the victim; honest ${(honest.ms / 1000).toFixed(2)} s; ${line(w)}`)
  assert.ok(peak <= DEFAULT_LIMITS.maxConnectionsPerIp, `${peak} connections from one host`)
  assert.ok(honest.ok && honest.bytesFromPeers > 0)
  assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
})

test('R1 connection flood from many hosts: the total cap and the per-host cap hold; an honest peer keeps downloading', { timeout: 60_000 }, async (t) => {
  const limits = { maxConnections: 40, maxConnectionsPerIp: 8 }
  const hs = await honestSwarm({ seederLimits: { limits } })
  t.after(async () => { await hs.fx.close() })
  const addr = hs.fx.addr(hs.seeder)
  const hosts = Array.from({ length: 6 }, (_, i) => `127.0.0.${70 + i}`)
  const watch = watchProcess()
  let peakTotal = 0
  let peakHost = 0
  const sampler = setInterval(() => {
    peakTotal = Math.max(peakTotal, hs.seeder.swarm?.node.getConnections().length ?? 0)
    for (const h of hosts) peakHost = Math.max(peakHost, fromIp(hs.seeder, h))
  }, 10)
  const honest = hs.download('r1-many')
  const flood = await connectionFlood(addr, hosts, 14)
  const result = await honest
  clearInterval(sampler)
  const w = watch.stop()
  t.after(async () => { await cleanup(flood.peers) })
  t.diagnostic(`${flood.attempted} dials from ${hosts.length} hosts, ${flood.upgraded} upgraded; peak ${peakTotal} open (cap ${limits.maxConnections}), ${peakHost} per host (cap ${limits.maxConnectionsPerIp}); honest ${(result.ms / 1000).toFixed(2)} s; ${line(w)}`)
  // the connection manager prunes above the cap: allow the one connection in flight
  assert.ok(peakTotal <= limits.maxConnections + 1, `${peakTotal} connections`)
  assert.ok(peakHost <= limits.maxConnectionsPerIp, `${peakHost} from one host`)
  assert.ok(result.ok)
  assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
})

test('R2 handshake slowloris: pending slots bounded, sockets closed at the upgrade timeout, outbound dials and downloads still work', { timeout: 60_000 }, async (t) => {
  const hs = await honestSwarm()
  t.after(async () => { await hs.fx.close() })
  const upgradeMs = 3000
  const pending = DEFAULT_LIMITS.maxIncomingPendingConnections
  // the victim is a downloader: its listener is attacked while it dials the seeder
  const victim = await hs.fx.node({ peers: [hs.fx.addr(hs.seeder)], httpDelayMs: 60_000, settleMs: 60_000, limits: { inboundUpgradeTimeout: upgradeMs } })
  const watch = watchProcess()
  const attack = await slowloris(hs.fx.addr(victim), '127.0.0.67', pending + 28)
  const t0 = performance.now()
  const out = join(hs.fx.dir, 'r2.bin')
  await victim.download(hs.fx.manifest, { out })
  const downloadMs = performance.now() - t0
  await waitFor(() => attack.stillOpen() === 0, upgradeMs + 5000, 'every slowloris socket to be closed')
  const w = watch.stop()
  t.after(async () => { await cleanup([], attack.sockets) })
  const late = attack.closedAfterMs.filter(ms => ms >= 1000)
  t.diagnostic(`${attack.sockets.length} sockets: ${attack.refusedAtOnce()} refused at once, ${late.length} held until ${Math.max(...late).toFixed(0)} ms (upgrade timeout ${upgradeMs} ms); download beside ${(downloadMs / 1000).toFixed(2)} s; ${line(w)}`)
  assert.ok(late.length <= pending, `${late.length} sockets held a pending slot (cap ${pending})`)
  assert.ok(Math.max(...late) < upgradeMs + 3000, 'held sockets closed at the upgrade timeout')
  assert.ok(await hs.fx.same(out))
  assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
})

test('R3 stream flood on one connection: closed at the stream-open cap and the peer banned; the honest download completes', { timeout: 60_000 }, async (t) => {
  const hs = await honestSwarm()
  t.after(async () => { await hs.fx.close() })
  const attacker = await startRawYamuxPeer({ localAddress: '127.0.0.69' })
  t.after(async () => { await cleanup([attacker]) })
  const watch = watchProcess()
  const raw = await attacker.connect(hs.fx.addr(hs.seeder))
  const honest = hs.download('r3')
  streamFlood(raw, 2000)
  const id = attacker.node.peerId.toString()
  await waitFor(() => raw.closed() && hs.seeder.swarm?.isBanned(id) === true, 10_000, 'the flooder to be cut off and banned')
  const result = await honest
  const w = watch.stop()
  // banned: it cannot come back
  await assert.rejects(attacker.connect(hs.fx.addr(hs.seeder)).then(async c => { await waitFor(() => c.closed(), 2000, 'refusal') ; throw new Error('refused late') }))
  t.diagnostic(`2000 stream opens in one burst: connection closed, peer banned (cap ${DEFAULT_LIMITS.maxStreamOpensPer10s} per 10 s); honest ${(result.ms / 1000).toFixed(2)} s; ${line(w)}`)
  assert.ok(result.ok)
  assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
})

for (const variant of ['ping cap', 'write-queue cap'] as const) {
  test(`R6 ping flood from a peer that never reads: closed at the ${variant}, the peer banned`, { timeout: 60_000 }, async (t) => {
    // the write-queue variant lifts the ping cap to show the second line of defence
    // (and a smaller queue cap: every queued pong cost an encryption, which is why the ping cap exists)
    const hs = await honestSwarm(variant === 'ping cap' ? {} : { seederLimits: { limits: { maxYamuxPingsPer10s: 1e9, maxConnectionWriteChunks: 8192 } } })
    t.after(async () => { await hs.fx.close() })
    const attacker = await startRawYamuxPeer({ localAddress: '127.0.0.65' })
    t.after(async () => { await cleanup([attacker]) })
    const watch = watchProcess()
    const raw = await attacker.connect(hs.fx.addr(hs.seeder))
    const honest = hs.download('r6')
    const pings = await pingFloodNoRead(raw, 2_000_000)
    const id = attacker.node.peerId.toString()
    await waitFor(() => raw.closed() && hs.seeder.swarm?.isBanned(id) === true, 10_000, 'the flooder to be cut off and banned')
    const result = await honest
    const w = watch.stop()
    t.diagnostic(`${pings} pings queued by the attacker before it saw the close (${variant === 'ping cap' ? `cap ${DEFAULT_LIMITS.maxYamuxPingsPer10s} pings per 10 s` : 'cap 8192 queued chunks'}); honest ${(result.ms / 1000).toFixed(2)} s; ${line(w)}`)
    assert.ok(pings < 2_000_000, 'closed before the attacker finished')
    assert.ok(result.ok)
    assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
  })
}

test('R9 Sybil: identities per host capped; two banned identities ban the host; honest peers unaffected', { timeout: 60_000 }, async (t) => {
  const hs = await honestSwarm()
  t.after(async () => { await hs.fx.close() })
  const addr = hs.fx.addr(hs.seeder)
  const host = '127.0.0.68'
  const watch = watchProcess()
  const crowd = await sybil(addr, host, DEFAULT_LIMITS.maxConnectionsPerIp + 8)
  t.after(async () => { await cleanup(crowd.peers) })
  await new Promise(resolve => setTimeout(resolve, 300))
  const admitted = fromIp(hs.seeder, host)
  assert.ok(admitted <= DEFAULT_LIMITS.maxConnectionsPerIp, `${admitted} identities from one host`)
  // two of them misbehave (stream floods): each is banned, then the host
  const open = crowd.connections.filter(c => !c.closed())
  for (const c of open.slice(0, 2)) streamFlood(c, 400)
  await waitFor(() => hs.seeder.swarm?.isAddressBanned(host) === true, 10_000, 'the host to be banned')
  await waitFor(() => fromIp(hs.seeder, host) === 0, 10_000, 'every identity of the banned host to be disconnected')
  const fresh = await startRawYamuxPeer({ localAddress: host })
  t.after(async () => { await cleanup([fresh]) })
  const refused = await fresh.connect(addr).then(async c => { await waitFor(() => c.closed(), 3000, 'refusal'); return true }, () => true)
  const result = await hs.download('r9')
  const w = watch.stop()
  t.diagnostic(`${crowd.attempted} identities from ${host}: ${admitted} admitted; after 2 bans the host is banned (${hs.seeder.swarm?.bannedPeers().length} ids banned), a fresh identity is refused; honest ${(result.ms / 1000).toFixed(2)} s; ${line(w)}`)
  assert.ok(refused)
  assert.ok(result.ok && result.bytesFromPeers > 0)
  assert.ok(w.p99Ms < MAX_P99_MS && w.rssGrowthMiB < MAX_RSS_GROWTH_MIB, line(w))
})
