/**
 * The resume state file: a pure encoder/decoder, no I/O.
 *
 * Layout (all integers big-endian):
 *
 * | offset | size | field                                            |
 * |--------|------|--------------------------------------------------|
 * | 0      | 4    | magic `DSST`                                     |
 * | 4      | 2    | format version (1)                               |
 * | 6      | 2    | flags (bit 0: finalized — the output was delivered) |
 * | 8      | 8    | file size in bytes                               |
 * | 16     | 4    | piece size                                       |
 * | 20     | 4    | piece count                                      |
 * | 24     | 2    | content id length `c`                            |
 * | 26     | c    | content id (ASCII)                               |
 * | 26+c   | 4    | bitfield length `b` (must be ceil(count / 8))    |
 * | 30+c   | b    | done bitfield, MSB first                         |
 * | 30+c+b | 32   | SHA-256 of every byte before it                  |
 *
 * The checksum makes a flipped or truncated file fail to decode; every length
 * is checked against the bytes present before it is used.
 */
import { createHash } from 'node:crypto'
import { Bitfield } from '../util/bitfield.js'
import { CONTENT_ID_PATTERN, MAX_CONTENT_ID_LENGTH } from './constants.js'

export const STATE_MAGIC = Uint8Array.of(0x44, 0x53, 0x53, 0x54) // "DSST"
export const STATE_FORMAT_VERSION = 1
const FLAG_FINALIZED = 0x0001
const FIXED_HEADER = 26
const CHECKSUM_LENGTH = 32

/** What the state file records. */
export interface StoreState {
  contentId: string
  size: number
  pieceSize: number
  pieceCount: number
  /** Pieces recorded as verified and durable. A claim only: re-verified on open. */
  done: Bitfield
  /** finalize() delivered a verified output from this entry. */
  finalized: boolean
}

/** Encoded length for a given content id and piece count (used to cap reads). */
export function stateLength (contentIdLength: number, pieceCount: number): number {
  return FIXED_HEADER + contentIdLength + 4 + Bitfield.byteLength(pieceCount) + CHECKSUM_LENGTH
}

/**
 * Cap for reading a state file whose manifest is unknown (listCache): 2^27
 * pieces (2 TiB at 16 KiB pieces) keeps the read at ~16 MiB.
 */
export const MAX_STATE_LENGTH = stateLength(MAX_CONTENT_ID_LENGTH, 2 ** 27)

export function encodeState (s: StoreState): Uint8Array {
  if (s.done.length !== s.pieceCount) throw new RangeError('bitfield length differs from piece count')
  const id = new TextEncoder().encode(s.contentId)
  const bits = s.done.bytes
  const out = new Uint8Array(stateLength(id.length, s.pieceCount))
  const view = new DataView(out.buffer)
  out.set(STATE_MAGIC, 0)
  view.setUint16(4, STATE_FORMAT_VERSION)
  view.setUint16(6, s.finalized ? FLAG_FINALIZED : 0)
  view.setBigUint64(8, BigInt(s.size))
  view.setUint32(16, s.pieceSize)
  view.setUint32(20, s.pieceCount)
  view.setUint16(24, id.length)
  out.set(id, FIXED_HEADER)
  let at = FIXED_HEADER + id.length
  view.setUint32(at, bits.length)
  at += 4
  out.set(bits, at)
  at += bits.length
  out.set(createHash('sha256').update(out.subarray(0, at)).digest(), at)
  return out
}

/** Decode, or return a reason the bytes are not a state file we wrote. Never throws. */
export function decodeState (bytes: Uint8Array): StoreState | { error: string } {
  if (bytes.length < FIXED_HEADER + 4 + CHECKSUM_LENGTH) return { error: 'truncated' }
  const body = bytes.subarray(0, bytes.length - CHECKSUM_LENGTH)
  const sum = createHash('sha256').update(body).digest()
  if (!sum.equals(bytes.subarray(body.length))) return { error: 'checksum mismatch' }
  // checksum first: past this point a mismatch means a different writer, not damage
  for (let i = 0; i < STATE_MAGIC.length; i++) if (bytes[i] !== STATE_MAGIC[i]) return { error: 'bad magic' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint16(4)
  if (version !== STATE_FORMAT_VERSION) return { error: `unsupported format version ${version}` }
  const flags = view.getUint16(6)
  if ((flags & ~FLAG_FINALIZED) !== 0) return { error: 'unknown flags' }
  const size = view.getBigUint64(8)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) return { error: 'size out of range' }
  const pieceSize = view.getUint32(16)
  const pieceCount = view.getUint32(20)
  const idLength = view.getUint16(24)
  if (idLength === 0 || idLength > MAX_CONTENT_ID_LENGTH) return { error: 'bad content id length' }
  if (body.length !== FIXED_HEADER + idLength + 4 + Bitfield.byteLength(pieceCount)) return { error: 'length mismatch' }
  const contentId = new TextDecoder().decode(bytes.subarray(FIXED_HEADER, FIXED_HEADER + idLength))
  if (!CONTENT_ID_PATTERN.test(contentId)) return { error: 'bad content id' }
  const bitsAt = FIXED_HEADER + idLength
  const bitsLength = view.getUint32(bitsAt)
  if (bitsLength !== Bitfield.byteLength(pieceCount)) return { error: 'bitfield length mismatch' }
  if (pieceSize === 0 || Math.ceil(Number(size) / pieceSize) !== pieceCount) return { error: 'inconsistent geometry' }
  let done: Bitfield
  try {
    done = new Bitfield(pieceCount, bytes.subarray(bitsAt + 4, bitsAt + 4 + bitsLength))
  } catch {
    return { error: 'bits set past piece count' }
  }
  return { contentId, size: Number(size), pieceSize, pieceCount, done, finalized: (flags & FLAG_FINALIZED) !== 0 }
}
