import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { swarmFixture } from '../helpers/swarm-fixture.js'

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
