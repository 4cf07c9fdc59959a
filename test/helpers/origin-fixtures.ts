/**
 * Shared fixtures for the HTTP origin tests: deterministic content, a minimal
 * manifest for it, and helpers that drain a source while recording what was
 * yielded and how it ended.
 */
import assert from 'node:assert/strict'
import type { Manifest } from '../../src/manifest/types.js'
import { pieceLength, pieceOffset } from '../../src/manifest/types.js'
import type { PieceData, PieceSource } from '../../src/source/index.js'

/** `size` pseudo-random bytes (xorshift32), the same for the same seed. */
export function testData (size: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/**
 * A manifest with the shape the origin needs (size, pieceSize); hashes are
 * zero-filled because the source never hashes.
 */
export function testManifest (size: number, pieceSize: number): Manifest {
  const n = Math.ceil(size / pieceSize)
  return {
    contentId: 'test',
    format: 1,
    name: 'test.bin',
    size,
    pieceSize,
    pieceHashes: Array.from({ length: n }, () => new Uint8Array(32)),
    fileHash: new Uint8Array(32),
    origins: [],
    createdAt: 0,
    version: 1,
    publisher: 'ed25519:test',
    bytes: new Uint8Array(0)
  }
}

export interface Drained {
  pieces: PieceData[]
  error?: unknown
  ms: number
}

/** Drain `fetch(first, count)` to its end or error; never throws. */
export async function drain (
  src: PieceSource, first: number, count: number, signal: AbortSignal,
  onPiece?: (p: PieceData) => void | Promise<void>
): Promise<Drained> {
  const t0 = performance.now()
  const pieces: PieceData[] = []
  try {
    for await (const p of src.fetch(first, count, signal)) {
      pieces.push(p)
      await onPiece?.(p)
    }
    return { pieces, ms: performance.now() - t0 }
  } catch (error) {
    return { pieces, error, ms: performance.now() - t0 }
  }
}

/**
 * Every yielded piece has the right index sequence (from `first`, no gaps or
 * repeats), the right length, and — unless listed in `corrupt` — the right bytes.
 */
export function assertPieces (pieces: readonly PieceData[], first: number, data: Uint8Array, m: Manifest, corrupt: ReadonlySet<number> = new Set()): void {
  pieces.forEach((p, i) => {
    assert.equal(p.index, first + i, 'pieces arrive in order without gaps or repeats')
    assert.equal(p.bytes.length, pieceLength(m, p.index), `piece ${p.index} length`)
    const want = data.subarray(pieceOffset(m, p.index), pieceOffset(m, p.index) + pieceLength(m, p.index))
    if (corrupt.has(p.index)) assert.notDeepEqual(Buffer.from(p.bytes), Buffer.from(want), `piece ${p.index} should be corrupt`)
    else assert.ok(Buffer.from(p.bytes).equals(Buffer.from(want)), `piece ${p.index} bytes`)
  })
}

/** Options that keep fault tests fast: small timeouts and backoff, deterministic jitter. */
export const FAST = {
  idleTimeoutMs: 300,
  minRateWindowMs: 300,
  retryBaseMs: 5,
  retryAfterCapMs: 200,
  maxRetries: 3,
  random: () => 0.5
} as const
