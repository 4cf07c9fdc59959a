/**
 * bench/raw-libp2p.ts: the raw stream baseline and its verifying, storing
 * variant (the ceiling peer-throughput reports doswarm against). The pair
 * runs as two real processes over loopback TCP.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PieceHasher, rawPair } from '../../bench/raw-libp2p.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

test('PieceHasher hashes each piece of a stream whatever the chunk boundaries', () => {
  const piece = 1000
  for (const total of [0, 1, 999, 1000, 1001, 3500, 4000]) {
    const data = randomBytes(total)
    const want: string[] = []
    for (let at = 0; at < total; at += piece) want.push(sha(data.subarray(at, Math.min(total, at + piece))))
    for (let trial = 0; trial < 5; trial++) {
      const h = new PieceHasher(piece)
      for (let at = 0; at < total;) {
        const n = Math.min(total - at, 1 + Math.floor(Math.random() * 2500))
        h.update(data.subarray(at, at + n))
        at += n
      }
      assert.deepEqual(h.end().map(d => d.toString('hex')), want, `total ${total}`)
    }
  }
  assert.throws(() => new PieceHasher(0), RangeError)
})

test('a raw pair whose receiver verifies and stores reports every piece hashed and the file synced, and leaves no file behind', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-raw-'))
  try {
    const bytes = 3 * 1024 * 1024 + 5
    const r = await rawPair({ bytes, chunk: 1024 * 1024, dir, timeoutMs: 60_000, hashPiece: 1024 * 1024, durable: true })
    assert.equal(r.ok, true, r.error)
    assert.equal(r.bytes, bytes)
    assert.equal(r.pieces, 4)
    assert.match(r.sha256 ?? '', /^[0-9a-f]{64}$/)
    assert.ok((r.syncs ?? 0) >= 1)
    assert.ok(!(await readdir(dir)).includes('raw-durable.bin'))

    const plain = await rawPair({ bytes: 1024 * 1024, chunk: 256 * 1024, dir, timeoutMs: 60_000 })
    assert.equal(plain.ok, true, plain.error)
    assert.equal(plain.pieces, 0)
    assert.equal(plain.sha256, undefined)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
