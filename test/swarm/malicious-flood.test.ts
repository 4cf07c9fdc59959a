/**
 * Resource attacks on the swarm protocol (THREATS R4, R7, R8) by a malicious
 * peer (test/helpers/evil-peer.ts): oversized length prefixes, request floods
 * and invalid requests against a seeder, HAVE floods against a downloader.
 * Every abuser must be banned and hung up on, while an honest download next
 * to the attack still delivers the right file.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { DoswarmNode, DownloadResult } from '../../src/node/node.js'
import { MAX_OUTSTANDING_REQUESTS, MAX_PIECE_COUNT, encodePiece } from '../../src/protocol/index.js'
import { ONE_GIB_PREFIX, concat, rawHave, rawRequest, startEvilPeer, type EvilBehaviour, type EvilPeer } from '../helpers/evil-peer.js'
import { swarmFixture, waitFor, type SwarmFixture } from '../helpers/swarm-fixture.js'

const SIZE = 24 * 16 * 1024 + 777
const PIECE = 16 * 1024
const PIECES = Math.ceil(SIZE / PIECE)

function connections (node: DoswarmNode, peerId: string): number {
  return node.swarm?.node.getConnections(peerIdFromString(peerId)).length ?? 0
}

async function assertBannedAndGone (node: DoswarmNode, evil: EvilPeer, addr: string): Promise<void> {
  await waitFor(() => node.swarm?.isBanned(evil.peerId) === true, 10_000, 'the abuser to be banned')
  await waitFor(() => connections(node, evil.peerId) === 0, 5000, 'the abuser to be hung up on')
  assert.equal(await evil.reconnect(addr), true, 'the abuser cannot get back in')
}

/**
 * An honest seeder, an honest downloader fetching from it (the download that
 * must not suffer), and an evil peer; `attack` runs while the download does.
 */
async function besideHonestDownload (attack: (ctx: { fx: SwarmFixture, seeder: DoswarmNode, evil: EvilPeer }) => Promise<void>): Promise<void> {
  const fx = await swarmFixture({ size: SIZE, pieceSize: PIECE })
  const evil = await startEvilPeer({ dir: fx.dir, manifest: fx.manifest, behaviour: { kind: 'opener-only' } })
  try {
    const seeder = await fx.node()
    await seeder.seed(fx.manifest, fx.file)
    const downloader = await fx.node({ peers: [fx.addr(seeder)] })
    const out = join(fx.dir, 'honest.bin')
    const download = downloader.download(fx.manifest, { out })
    download.catch(() => {}) // awaited below
    await attack({ fx, seeder, evil })
    await assertBannedAndGone(seeder, evil, fx.addr(seeder))
    const result = await download
    assert.ok(await fx.same(out), 'the honest download beside the attack is correct')
    assert.equal(result.piecesRejected, 0)
    assert.equal(downloader.swarm?.isBanned(seeder.peerId as string), false, 'the honest seeder is not punished')
  } finally {
    await evil.stop().catch(() => {})
    await fx.close()
  }
}

test('R7 request flood: 200 REQUESTs in one burst (> 32 outstanding) ban the requester; at most 32 are served', { timeout: 30_000 }, async () => {
  await besideHonestDownload(async ({ fx, seeder, evil }) => {
    const s = await evil.openSession(fx.addr(seeder))
    assert.ok(s.remoteHello !== undefined, 'the seeder answered HELLO')
    await s.sendRaw(concat(Array.from({ length: 200 }, (_, k) => rawRequest(k + 1, k % PIECES))))
    const { counts } = await s.drain()
    assert.ok((counts.PIECE ?? 0) <= MAX_OUTSTANDING_REQUESTS, `served ${counts.PIECE} pieces`)
  })
})

test('R7 duplicate request ids ban the requester', { timeout: 30_000 }, async () => {
  await besideHonestDownload(async ({ fx, seeder, evil }) => {
    const s = await evil.openSession(fx.addr(seeder))
    await s.sendRaw(concat([rawRequest(7, 0), rawRequest(7, 1)]))
    await s.closed
  })
})

for (const [what, index] of [['= pieceCount', PIECES], ['≥ 2^20', MAX_PIECE_COUNT + 5]] as const) {
  test(`R7 out-of-range REQUEST (index ${what}) bans the requester`, { timeout: 30_000 }, async () => {
    await besideHonestDownload(async ({ fx, seeder, evil }) => {
      const s = await evil.openSession(fx.addr(seeder))
      await s.sendRaw(rawRequest(1, index))
      await s.closed
    })
  })
}

test('R7 unsolicited PIECE flood (answers to requests never made) bans the sender', { timeout: 30_000 }, async () => {
  await besideHonestDownload(async ({ fx, seeder, evil }) => {
    const s = await evil.openSession(fx.addr(seeder))
    const junk = new Uint8Array(PIECE)
    await s.sendRaw(concat(Array.from({ length: 80 }, (_, k) => concat(encodePiece(1000 + k, 0, junk)))))
    await s.closed
  })
})

test('R8 HAVE flood from a session opener bans it', { timeout: 30_000 }, async () => {
  await besideHonestDownload(async ({ fx, seeder, evil }) => {
    const s = await evil.openSession(fx.addr(seeder))
    await s.sendRaw(concat(Array.from({ length: 2 * PIECES + 10 }, () => rawHave(0))))
    await s.closed
  })
})

test('R4 a 1 GiB length prefix instead of the opener\'s HELLO bans the sender', { timeout: 30_000 }, async () => {
  await besideHonestDownload(async ({ fx, seeder, evil }) => {
    const s = await evil.openSession(fx.addr(seeder), { first: [ONE_GIB_PREFIX] })
    assert.equal(s.remoteHello, undefined)
    await s.closed
  })
})

/** A downloader with the evil peer as its static peer; the origin is the honest source. */
async function againstDownloader (behaviour: EvilBehaviour): Promise<{ result: DownloadResult, evil: EvilPeer }> {
  const fx = await swarmFixture({ size: SIZE, pieceSize: PIECE })
  const evil = await startEvilPeer({ dir: fx.dir, manifest: fx.manifest, data: fx.data, behaviour })
  try {
    const node = await fx.node({ peers: [evil.addr] })
    await waitFor(() => connections(node, evil.peerId) > 0, 10_000, 'the connection to the static peer')
    const out = join(fx.dir, 'out.bin')
    const result = await node.download(fx.manifest, { out })
    assert.ok(await fx.same(out))
    assert.ok(result.peersBanned >= 1, `peersBanned ${result.peersBanned}`)
    assert.equal(result.piecesRejected, 0)
    await assertBannedAndGone(node, evil, fx.addr(node))
    return { result, evil }
  } finally {
    await evil.stop().catch(() => {})
    await fx.close()
  }
}

for (const when of ['instead-of-hello', 'after-hello'] as const) {
  test(`R4 a 1 GiB length prefix from a responder (${when}) bans it; the download completes`, { timeout: 30_000 }, async () => {
    const { evil } = await againstDownloader({ kind: 'oversized-prefix', when })
    if (when === 'instead-of-hello') assert.equal(evil.stats.requests.length, 0, 'nothing asked of a peer without a HELLO')
  })
}

test('R8 HAVE flood (2·pieceCount + 10 HAVEs) from a responder bans it; the download completes', { timeout: 30_000 }, async () => {
  await againstDownloader({ kind: 'have-flood', count: 2 * PIECES + 10 })
})
