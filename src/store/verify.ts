/**
 * Hash checks against the manifest. Everything that enters or is trusted from
 * the data file passes through here: put() for bytes from the network, open()
 * for bytes a previous run left on disk, read() before serving a peer.
 */
import { createHash } from 'node:crypto'
import { throwIfAborted } from '../errors.js'
import { pieceCount, pieceLength, pieceOffset, type Manifest } from '../manifest/types.js'
import { Bitfield } from '../util/bitfield.js'
import { IO_CHUNK_SIZE } from './constants.js'
import { readFully, type StoreFileHandle } from './fs.js'

export function sha256 (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** True when `bytes` is exactly piece `index` of the manifest (length and SHA-256). */
export function isPiece (m: Manifest, index: number, bytes: Uint8Array): boolean {
  return bytes.length === pieceLength(m, index) && equalBytes(sha256(bytes), m.pieceHashes[index])
}

/**
 * Re-hash piece `index` from the data file, streaming through `scratch` so a
 * 16 MiB piece needs no 16 MiB buffer. A short read (file shrunk under us) fails.
 */
export async function verifyPieceOnDisk (handle: StoreFileHandle, m: Manifest, index: number, scratch: Uint8Array): Promise<boolean> {
  const length = pieceLength(m, index)
  const start = pieceOffset(m, index)
  const hash = createHash('sha256')
  for (let at = 0; at < length;) {
    const want = Math.min(scratch.length, length - at)
    const got = await readFully(handle, scratch, want, start + at)
    if (got !== want) return false
    hash.update(scratch.subarray(0, got))
    at += got
  }
  return equalBytes(hash.digest(), m.pieceHashes[index])
}

/**
 * Which of `indices` the data file holds correctly. Used on open: a claim in
 * the state file is only a hint (C2), and so is a data file without one.
 */
export async function verifyPiecesOnDisk (handle: StoreFileHandle, m: Manifest, indices: Iterable<number>, signal?: AbortSignal): Promise<Bitfield> {
  const good = new Bitfield(pieceCount(m))
  const scratch = new Uint8Array(Math.min(IO_CHUNK_SIZE, Math.max(1, m.pieceSize)))
  for (const i of indices) {
    throwIfAborted(signal)
    if (await verifyPieceOnDisk(handle, m, i, scratch)) good.set(i)
  }
  return good
}
