/**
 * Node policies as a user sees them: bandwidth caps hold over a few seconds
 * (behaviour with a tolerance, not a speed benchmark), group mode keeps other
 * groups out while the group shares, small files are not peered.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { generateGroupSecret, parseGroupSecret } from '../../src/node/group.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'

test('a foreground download cap is observed within ±30% over a few seconds', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 3_000_000, pieceSize: 64 * 1024 })
  try {
    const cap = 1_000_000
    const node = await fx.node({ httpOnly: true, bandwidth: { foregroundDownloadBps: cap } })
    const t0 = performance.now()
    const r = await node.download(fx.manifest, { out: join(fx.dir, 'a.bin') })
    const rate = r.bytesFromHttp / ((performance.now() - t0) / 1000)
    assert.ok(await fx.same(join(fx.dir, 'a.bin')))
    assert.ok(rate > 0.7 * cap && rate < 1.3 * cap, `observed ${Math.round(rate)} B/s against a cap of ${cap}`)
  } finally { await fx.close() }
})

test('an upload cap limits what a seeder sends', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 3_000_000, pieceSize: 64 * 1024 })
  try {
    const cap = 1_000_000
    const seeder = await fx.node({ bandwidth: { uploadBps: cap } })
    await seeder.seed(fx.manifest, fx.file)
    const leecher = await fx.node({ peers: [fx.addr(seeder)], settleMs: 0 })
    await new Promise(resolve => setTimeout(resolve, 300))
    const t0 = performance.now()
    const r = await leecher.download(fx.manifest, { out: join(fx.dir, 'b.bin') })
    const rate = r.bytesFromPeers / ((performance.now() - t0) / 1000)
    assert.equal(r.bytesFromHttp, 0, 'the seeder held every piece, so the origin was never needed')
    assert.ok(rate > 0.6 * cap && rate < 1.3 * cap, `observed ${Math.round(rate)} B/s against an upload cap of ${cap}`)
  } finally { await fx.close() }
})

test('group mode: same-secret peers share; another group cannot even connect', { timeout: 90_000 }, async () => {
  const fx = await swarmFixture({ size: 1_000_000, pieceSize: 64 * 1024 })
  try {
    const ours = parseGroupSecret(generateGroupSecret())
    const theirs = parseGroupSecret(generateGroupSecret())
    const seeder = await fx.node({ groupSecret: ours })
    await seeder.seed(fx.manifest, fx.file)
    const member = await fx.node({ groupSecret: ours, peers: [fx.addr(seeder)] })
    const r = await member.download(fx.manifest, { out: join(fx.dir, 'member.bin') })
    assert.equal(r.bytesFromPeers, fx.manifest.size, 'a group member gets everything from the group')
    const stranger = await fx.node({ groupSecret: theirs, peers: [fx.addr(seeder)], settleMs: 0 })
    const s = await stranger.download(fx.manifest, { out: join(fx.dir, 'stranger.bin') })
    assert.ok(await fx.same(join(fx.dir, 'stranger.bin')))
    assert.equal(s.bytesFromPeers, 0, 'another group gets nothing from us')
    assert.equal(s.bytesFromHttp, fx.manifest.size)
    const seederConns = seeder.swarm?.node.getConnections().map(c => c.remotePeer.toString()) ?? []
    assert.ok(!seederConns.includes(stranger.peerId ?? ''), 'no connection to the other group')
    assert.ok(seederConns.includes(member.peerId ?? ''))
    const open = await fx.node({ peers: [fx.addr(seeder)], settleMs: 0 })
    const o = await open.download(fx.manifest, { out: join(fx.dir, 'open.bin') })
    assert.equal(o.bytesFromPeers, 0, 'a node without the secret gets nothing either')
  } finally { await fx.close() }
})

test('files under minFileSizeToPeer are fetched over HTTP only and not shared', { timeout: 30_000 }, async () => {
  const fx = await swarmFixture({ size: 200_000, pieceSize: 64 * 1024 })
  try {
    const seeder = await fx.node()
    await seeder.seed(fx.manifest, fx.file)
    const small = await fx.node({ peers: [fx.addr(seeder)], minFileSizeToPeer: 1_000_000, settleMs: 0 })
    const r = await small.download(fx.manifest, { out: join(fx.dir, 's.bin') })
    assert.equal(r.bytesFromPeers, 0)
    assert.equal(r.bytesFromHttp, fx.manifest.size)
    assert.equal(small.swarm?.session(fx.manifest.contentId), undefined)
  } finally { await fx.close() }
})
