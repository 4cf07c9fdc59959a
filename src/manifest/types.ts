/** A verified manifest, as held in memory after {@link verifyManifest}. */
export interface Manifest {
  /** CIDv1 (base32 string) of the canonical body bytes; the content's only key. */
  readonly contentId: string
  /** Manifest format version (1). */
  readonly format: number
  /** Display name. Never used as a path. */
  readonly name: string
  /** File size in bytes. */
  readonly size: number
  /** Piece size in bytes, a power of two from 16 KiB to 16 MiB. */
  readonly pieceSize: number
  /** Raw 32-byte SHA-256 digest of each piece. */
  readonly pieceHashes: readonly Uint8Array[]
  /** Raw 32-byte SHA-256 digest of the whole file. */
  readonly fileHash: Uint8Array
  /** HTTP(S) URLs that serve the whole file and answer Range requests. */
  readonly origins: readonly string[]
  /** Creation time, ms since the epoch. */
  readonly createdAt: number
  /** Expiry, ms since the epoch, if any. */
  readonly expiresAt?: number
  /** Publisher's version number for this content name; never goes down. */
  readonly version: number
  /** Publisher public key string (`ed25519:<base58btc>`). */
  readonly publisher: string
  /** The exact signed bytes (envelope), as received. */
  readonly bytes: Uint8Array
}

/** Number of pieces of a manifest's file. */
export function pieceCount (m: Pick<Manifest, 'size' | 'pieceSize'>): number {
  return Math.ceil(m.size / m.pieceSize)
}

/** Byte offset of piece `index`. */
export function pieceOffset (m: Pick<Manifest, 'pieceSize'>, index: number): number {
  return index * m.pieceSize
}

/** Length in bytes of piece `index` (the last piece may be short). */
export function pieceLength (m: Pick<Manifest, 'size' | 'pieceSize'>, index: number): number {
  const start = index * m.pieceSize
  return Math.max(0, Math.min(m.pieceSize, m.size - start))
}
