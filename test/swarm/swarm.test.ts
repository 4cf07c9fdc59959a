import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type Socket } from 'node:net'
import { join } from 'node:path'
import type { PeerLink } from '../../src/swarm/peer-link.js'
import { startEvilPeer, type EvilPeer } from '../helpers/evil-peer.js'
import { swarmFixture, waitFor } from '../helpers/swarm-fixture.js'

for (const n of [3, 5]) {
  test(`${n} nodes starting together get correct files, trade pieces, and ask the origin about once`, { timeout: 60_000 }, async () => {
    const fx = await swarmFixture({ size: 4 * 1024 * 1024 + 777, pieceSize: 64 * 1024 })
    try {
      const first = await fx.node()
      const others = []
      for (let i = 1; i < n; i++) others.push(await fx.node({ peers: [fx.addr(first)] }))
      const nodes = [first, ...others]
      const results = await Promise.all(nodes.map(async (node, i) => await node.download(fx.manifest, { out: join(fx.dir, `out-${i}.bin`) })))
      for (let i = 0; i < n; i++) assert.ok(await fx.same(join(fx.dir, `out-${i}.bin`)), `node ${i} has the right file`)
      const fromPeers = results.reduce((s, r) => s + r.bytesFromPeers, 0)
      const fromHttp = results.reduce((s, r) => s + r.bytesFromHttp, 0)
      const toPeers = nodes.reduce((s, node) => s + (node.swarm?.stats().bytesToPeers ?? 0), 0)
      assert.ok(fromPeers > 0, 'pieces were exchanged between peers')
      assert.equal(fromHttp + fromPeers, n * fx.manifest.size)
      // every byte a peer received, another sent; the excess is endgame duplicates and cancelled requests
      assert.ok(toPeers >= fromPeers && toPeers <= 1.25 * fromPeers, `sent ${toPeers} for ${fromPeers} received`)
      // honest swarm invariant: not one piece failed its hash
      assert.equal(results.reduce((s, r) => s + r.piecesRejected, 0), 0)
      assert.equal(results.reduce((s, r) => s + r.peersBanned, 0), 0)
      const copies = fx.origin.bytesSent / fx.manifest.size
      assert.ok(copies < 1.5, `origin sent ${copies.toFixed(2)} copies`)
    } finally {
      await fx.close()
    }
  })
}

test('a node whose origin fails keeps waiting for peers that still make progress, and completes from them', { timeout: 90_000 }, async () => {
  // the origin sends ~1.6 MB/s per response: fine by the default rules, a stall by the cut node's
  const fx = await swarmFixture({ size: 3 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'trickle', intervalMs: 10, bytesPerTick: 16 * 1024 }) })
  try {
    const good = await fx.node({ httpDelayMs: 300 })
    const cut = await fx.node({ peers: [fx.addr(good)], httpDelayMs: 300, http: { minRateBytesPerSec: 1_000_000_000, minRateWindowMs: 1, maxRetries: 0 } })
    const [a, b] = await Promise.all([
      good.download(fx.manifest, { out: join(fx.dir, 'good.bin') }),
      cut.download(fx.manifest, { out: join(fx.dir, 'cut.bin') })
    ])
    assert.ok(await fx.same(join(fx.dir, 'good.bin')))
    assert.ok(await fx.same(join(fx.dir, 'cut.bin')), 'the cut-off node completed')
    assert.equal(b.bytesFromPeers + b.bytesFromHttp, fx.manifest.size)
    assert.ok(b.bytesFromPeers > 0, 'pieces came from its peer')
    assert.equal(a.piecesRejected + b.piecesRejected, 0)
  } finally {
    await fx.close()
  }
})

test('a link lost to an error is opened again, and the download finishes from that peer', { timeout: 60_000 }, async () => {
  // the origin refuses everything: the seeder is the only source, so losing the link for good would fail the download
  const fx = await swarmFixture({ size: 2 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'status', status: 500 }) })
  try {
    const seeder = await fx.node()
    await seeder.seed(fx.manifest, fx.file)
    // slow enough (~4 s) to cut the link mid-download
    const leecher = await fx.node({ peers: [fx.addr(seeder)], httpDelayMs: 300, bandwidth: { uploadBps: 0, foregroundDownloadBps: 512 * 1024 } })
    const seederId = seeder.peerId as string
    const done = leecher.download(fx.manifest, { out: join(fx.dir, 'out.bin') })
    const linkToSeeder = (): PeerLink | undefined => leecher.swarm?.session(fx.manifest.contentId)?.links.get(seederId)
    await waitFor(() => (linkToSeeder()?.bytesReceived ?? 0) > 0, 20_000, 'pieces from the seeder')
    const first = linkToSeeder() as PeerLink
    first.close(new Error('test: link cut'))
    await waitFor(() => { const l = linkToSeeder(); return l !== undefined && l !== first }, 20_000, 'a new link to the seeder')
    const result = await done
    assert.ok(await fx.same(join(fx.dir, 'out.bin')))
    assert.equal(result.bytesFromHttp, 0)
    assert.equal(result.bytesFromPeers, fx.manifest.size)
    assert.equal(result.peersBanned, 0)
    assert.equal(leecher.swarm?.isBanned(seederId), false)
  } finally {
    await fx.close()
  }
})

test('a download\'s early owners are the peers connected long enough before it began', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 1024 * 1024, pieceSize: 64 * 1024 })
  try {
    const hub = await fx.node()
    const early = await fx.node({ peers: [fx.addr(hub)], earlyPeerMinAgeMs: 300 })
    const late = await fx.node({ peers: [fx.addr(hub)], earlyPeerMinAgeMs: 60_000 })
    await waitFor(() => early.stats().connectedPeers >= 1 && late.stats().connectedPeers >= 1, 10_000, 'both connected to the hub')
    await new Promise(resolve => setTimeout(resolve, 400))
    const results = await Promise.all([early, late].map(async (node, i) => await node.download(fx.manifest, { out: join(fx.dir, `early-${i}.bin`) })))
    assert.deepEqual(early.swarm?.session(fx.manifest.contentId)?.coordinator.earlyPeers, [hub.peerId], 'connected for longer than 300 ms')
    assert.deepEqual(late.swarm?.session(fx.manifest.contentId)?.coordinator.earlyPeers, [], 'connected for less than 60 s')
    for (let i = 0; i < 2; i++) assert.ok(await fx.same(join(fx.dir, `early-${i}.bin`)))
    assert.equal(results.reduce((s, r) => s + r.piecesRejected, 0), 0)
  } finally {
    await fx.close()
  }
})

test('peer exchange past one header: a node that knows many peers tells a newcomer of all of them in several PEERS messages, and bans no one', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 64 * 1024, pieceSize: 16 * 1024 })
  const evils: EvilPeer[] = []
  try {
    const seeder = await fx.node()
    await seeder.seed(fx.manifest, fx.file)
    // 10 peers advertising 16 addresses each: ~440 bytes per record, so one
    // message holding all of them would be over the 4096-byte header limit
    // (loopback addresses on unused ports: nothing dials them in this test)
    for (let k = 0; k < 10; k++) {
      const evil = await startEvilPeer({ dir: fx.dir, manifest: fx.manifest, behaviour: { kind: 'opener-only' } })
      evils.push(evil)
      const listenAddrs = Array.from({ length: 16 }, (_, j) => `/ip4/127.0.${k}.${j + 1}/tcp/${40000 + j}`)
      await evil.openSession(fx.addr(seeder), { listenAddrs })
    }
    const session = seeder.swarm?.session(fx.manifest.contentId)
    await waitFor(() => session?.links.size === 10, 10_000, 'ten links')
    const newcomer = await startEvilPeer({ dir: fx.dir, manifest: fx.manifest, behaviour: { kind: 'opener-only' } })
    evils.push(newcomer)
    const s = await newcomer.openSession(fx.addr(seeder))
    const told = new Set<string>()
    let messages = 0
    while (told.size < 10) {
      const next = await Promise.race([s.frames.next(), new Promise<never>((resolve, reject) => setTimeout(() => { reject(new Error(`told of ${told.size} peers in ${messages} PEERS messages`)) }, 10_000))])
      if (next.done === true) break
      if (next.value.message.type !== 'PEERS') continue
      messages++
      for (const p of next.value.message.peers) told.add(p.peerId)
    }
    assert.equal(told.size, 10, 'told of every other peer')
    assert.ok(messages >= 2, `split over ${messages} messages`)
    assert.equal(seeder.swarm?.isBanned(newcomer.peerId), false, 'the newcomer is not banned for what we could not send')
    assert.ok(session?.links.has(newcomer.peerId), 'its link stays open')
  } finally {
    for (const e of evils) await e.stop().catch(() => {})
    await fx.close()
  }
})

test('a peer-exchange dial that fails is tried again: a peer told of while its address refuses connections is linked once it accepts them', { timeout: 60_000 }, async () => {
  // the origin refuses everything and the leecher downloads slowly: its session stays open for the whole test
  const fx = await swarmFixture({ size: 4 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'status', status: 500 }) })
  let evil: EvilPeer | undefined
  const sockets = new Set<Socket>()
  // a port in front of the newcomer that resets its first two connections, then relays to the newcomer
  let attempts = 0
  const gate = createServer(inbound => {
    sockets.add(inbound)
    inbound.on('error', () => {})
    if (++attempts <= 2) { inbound.resetAndDestroy(); return }
    const target = new URL(`tcp://${(evil as EvilPeer).addr.split('/')[2]}:${(evil as EvilPeer).addr.split('/')[4]}`)
    const outbound = connect(Number(target.port), target.hostname)
    sockets.add(outbound)
    outbound.on('error', () => { inbound.destroy() })
    inbound.pipe(outbound).pipe(inbound)
  })
  try {
    await new Promise<void>(resolve => gate.listen(0, '127.0.0.1', resolve))
    const gatePort = (gate.address() as { port: number }).port
    const seeder = await fx.node()
    await seeder.seed(fx.manifest, fx.file)
    const leecher = await fx.node({ peers: [fx.addr(seeder)], httpDelayMs: 300, bandwidth: { uploadBps: 0, foregroundDownloadBps: 128 * 1024 } })
    const done = leecher.download(fx.manifest, { out: join(fx.dir, 'out.bin') }).catch(() => undefined)
    const session = (): ReturnType<NonNullable<typeof leecher.swarm>['session']> => leecher.swarm?.session(fx.manifest.contentId)
    await waitFor(() => session()?.links.has(seeder.peerId as string) === true, 20_000, 'the leecher linked to the seeder')
    // a newcomer joins the seeder and says it listens behind the gate: the seeder tells the leecher of it
    evil = await startEvilPeer({ dir: fx.dir, manifest: fx.manifest, data: fx.data, behaviour: { kind: 'honest' } })
    const s = await evil.openSession(fx.addr(seeder), { listenAddrs: [`/ip4/127.0.0.1/tcp/${gatePort}`] })
    assert.ok(s.remoteHello !== undefined, 'the seeder took the newcomer')
    const newcomer = evil.peerId
    await waitFor(() => session()?.links.has(newcomer) === true, 40_000, 'a link to the newcomer')
    assert.ok(attempts >= 3, `dialled ${attempts} times: the refused dials were retried`)
    assert.equal(leecher.swarm?.isBanned(newcomer), false)
    await leecher.stop()
    await done
  } finally {
    for (const sock of sockets) sock.destroy()
    gate.close()
    await evil?.stop().catch(() => {})
    await fx.close()
  }
})
