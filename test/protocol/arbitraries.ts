/**
 * fast-check generators of valid protocol messages, shared by the protocol
 * tests, plus small byte helpers.
 */
import fc from 'fast-check'
import { MAX_CLAIM_TTL_MS, MAX_PIECE_COUNT, MAX_UINT32 } from '../../src/protocol/constants.js'
import type { Frame, Message, RejectReason } from '../../src/protocol/message.js'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.split('')

export const alnum = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 1, maxLength })

export const addr = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map(c => String.fromCharCode(c)), maxLength: maxLength - 1 }).map(s => '/' + s)

/** fc.record with ordinary prototypes, so results deep-equal decoded objects. */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true })

const index = fc.integer({ min: 0, max: MAX_PIECE_COUNT - 1 })
const uint32 = fc.integer({ min: 0, max: MAX_UINT32 })
const indices = fc.uniqueArray(index, { minLength: 1, maxLength: 1024 }).map(a => a.sort((x, y) => x - y))

/** A bitfield for `count` pieces with its spare bits cleared. */
export function bitfieldArb (count: number): fc.Arbitrary<Uint8Array> {
  const size = Math.ceil(count / 8)
  return fc.uint8Array({ minLength: size, maxLength: size }).map(b => {
    if (count % 8 !== 0) b[size - 1] &= 0xff << (8 - count % 8)
    return b
  })
}

/** A valid message and, for PIECE, its payload. */
export interface Sample { message: Message, payload?: Uint8Array }

export const sampleArb: fc.Arbitrary<Sample> = fc.oneof(
  fc.integer({ min: 0, max: 4000 }).chain(pieceCount => rec({
    message: rec({
      type: fc.constant('HELLO' as const),
      contentId: alnum(128),
      pieceCount: fc.constant(pieceCount),
      bitfield: bitfieldArb(pieceCount),
      listenAddrs: fc.array(addr(100), { maxLength: 4 })
    })
  })),
  rec({ message: rec({ type: fc.constant('HAVE' as const), index }) }),
  rec({ message: rec({ type: fc.constant('REQUEST' as const), requestId: uint32, index }) }),
  rec({
    message: rec({ type: fc.constant('PIECE' as const), requestId: uint32, index }),
    payload: fc.uint8Array({ minLength: 1, maxLength: 3000 })
  }),
  rec({
    message: rec({
      type: fc.constant('REJECT' as const),
      requestId: uint32,
      index,
      reason: fc.constantFrom<RejectReason>('NOT_HAVE', 'BUSY', 'INVALID')
    })
  }),
  rec({ message: rec({ type: fc.constant('CANCEL' as const), requestId: uint32 }) }),
  rec({ message: rec({ type: fc.constant('CLAIM' as const), indices, ttlMs: fc.integer({ min: 1, max: MAX_CLAIM_TTL_MS }) }) }),
  rec({ message: rec({ type: fc.constant('RELEASE' as const), indices }) }),
  rec({
    message: rec({
      type: fc.constant('PEERS' as const),
      peers: fc.array(rec({ peerId: alnum(60), addrs: fc.array(addr(60), { minLength: 1, maxLength: 3 }) }), { minLength: 1, maxLength: 8 })
    })
  })
)

/** Concatenate into a plain Uint8Array (not a Buffer, so deepEqual sees the same prototype). */
export function concat (chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const c of chunks) { out.set(c, offset); offset += c.length }
  return out
}

export function fromHex (hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '')
  return Uint8Array.from(clean.match(/../g) ?? [], h => parseInt(h, 16))
}

export function toHex (bytes: Uint8Array): string {
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join(' ')
}

/** Split `bytes` at the given cut points (any order, duplicates allowed). */
export function splitAt (bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let start = 0
  for (const p of points) { out.push(bytes.subarray(start, p)); start = p }
  out.push(bytes.subarray(start))
  return out
}

/** Frames without the `owned` mark (which says how a payload is held, not what it is). */
export function frameContent (frames: readonly Frame[]): Frame[] {
  return frames.map(({ owned: _owned, ...f }) => f)
}

/** What the decoder returns for a sample: PIECE messages gain payloadLength. */
export function expectedFrame (s: Sample): { message: Message, payload?: Uint8Array } {
  if (s.message.type === 'PIECE') return { message: { ...s.message, payloadLength: s.payload?.length }, payload: s.payload }
  return { message: s.message }
}
