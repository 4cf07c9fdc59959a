/**
 * Creating and verifying signed manifests. Verification order (THREATS T7):
 * size cap → envelope → trusted key → signature over the exact bytes →
 * parse (canonical form) → semantic checks (expiry against a fixed time).
 */
import { createHash, type KeyObject } from 'node:crypto'
import { open } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import * as json from 'multiformats/codecs/json'
import { sha256 } from 'multiformats/hashes/sha2'
import { ManifestExpiredError, UsageError } from '../errors.js'
import { DEFAULT_PIECE_SIZE, MANIFEST_FORMAT, checkOriginUrl, checkPieceSize, encodeBody, parseBody, type ManifestBody } from './body.js'
import { openEnvelope, sealEnvelope } from './envelope.js'
import { parsePublicKeyString, publicKeyToString } from './keys.js'
import type { Manifest } from './types.js'

/** Content id of canonical body bytes: CIDv1, json codec, sha2-256, base32. */
export function contentIdOf (body: Uint8Array): string {
  const digest = sha256.digest(body)
  if (digest instanceof Promise) throw new Error('sha256 must be synchronous on Node')
  return CID.create(1, json.code, digest).toString()
}

export interface VerifyOptions {
  /** Trusted publisher keys, as `ed25519:…` strings or raw 32-byte keys. */
  trustedKeys: ReadonlyArray<string | Uint8Array>
  /**
   * Time to check expiry against, ms since the epoch. A long download keeps
   * the time it started with, so a manifest cannot expire under it.
   * @default Date.now()
   */
  now?: number
}

/** Verify signed manifest bytes and return the manifest; throws typed manifest errors. */
export function verifyManifest (bytes: Uint8Array, options: VerifyOptions): Manifest {
  const trusted = options.trustedKeys.map(k => typeof k === 'string' ? parsePublicKeyString(k) : k)
  const { body: bodyBytes, publisher } = openEnvelope(bytes, trusted)
  const body = parseBody(bodyBytes)
  const now = options.now ?? Date.now()
  if (body.expiresAt !== undefined && body.expiresAt <= now) {
    throw new ManifestExpiredError(`manifest expired at ${new Date(body.expiresAt).toISOString()}`)
  }
  return toManifest(body, bodyBytes, bytes, publisher)
}

function toManifest (body: ManifestBody, bodyBytes: Uint8Array, bytes: Uint8Array, publisher: string): Manifest {
  return Object.freeze({
    contentId: contentIdOf(bodyBytes),
    format: body.format,
    name: body.name,
    size: body.size,
    pieceSize: body.pieceSize,
    pieceHashes: Object.freeze(body.pieceHashes),
    fileHash: body.fileHash,
    origins: Object.freeze([...body.origins]),
    createdAt: body.createdAt,
    ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt } : {}),
    version: body.version,
    publisher,
    bytes
  })
}

export interface CreateManifestOptions {
  /** Path of the file to describe. */
  file: string
  /** Origin URLs that serve the file. */
  origins: string[]
  /** Ed25519 private key of the publisher. */
  privateKey: KeyObject
  /** Display name. @default the file's base name */
  name?: string
  /** @default 1 MiB */
  pieceSize?: number
  /** Expiry, ms since the epoch. @default none */
  expiresAt?: number
  /** Version number of this content name. @default 1 */
  version?: number
  /** @default Date.now() */
  createdAt?: number
  signal?: AbortSignal
}

/** Hash a file piece by piece and produce its signed manifest. */
export async function createManifest (opts: CreateManifestOptions): Promise<Manifest> {
  const pieceSize = opts.pieceSize ?? DEFAULT_PIECE_SIZE
  const psProblem = checkPieceSize(pieceSize)
  if (psProblem !== undefined) throw new UsageError(psProblem)
  if (opts.origins.length === 0) throw new UsageError('at least one origin URL is needed')
  for (const u of opts.origins) {
    const why = checkOriginUrl(u)
    if (why !== undefined) throw new UsageError(`origin ${u}: ${why}`)
  }
  const version = opts.version ?? 1
  if (!Number.isSafeInteger(version) || version < 0) throw new UsageError('version must be a non-negative integer')
  const { pieceHashes, fileHash, size } = await hashFile(opts.file, pieceSize, opts.signal)
  if (size === 0) throw new UsageError(`${opts.file} is empty; there is nothing to publish`)
  const name = opts.name ?? opts.file.split(/[\\/]/).pop() ?? 'file'
  const body: ManifestBody = {
    format: MANIFEST_FORMAT,
    name: name.slice(0, 255),
    size,
    pieceSize,
    pieceHashes,
    fileHash,
    origins: [...opts.origins],
    createdAt: opts.createdAt ?? Date.now(),
    version
  }
  if (opts.expiresAt !== undefined) body.expiresAt = opts.expiresAt
  const bodyBytes = encodeBody(body)
  const bytes = sealEnvelope(bodyBytes, opts.privateKey)
  // round-trip through the verifier so a publisher can never emit what receivers reject
  const parsed = parseBody(bodyBytes)
  return toManifest(parsed, bodyBytes, bytes, publicKeyToString(opts.privateKey))
}

async function hashFile (path: string, pieceSize: number, signal?: AbortSignal): Promise<{ pieceHashes: Uint8Array[], fileHash: Uint8Array, size: number }> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${path}: ${err.code ?? err.message}`)
  })
  try {
    const whole = createHash('sha256')
    const pieceHashes: Uint8Array[] = []
    const buf = Buffer.allocUnsafe(pieceSize)
    let size = 0
    for (;;) {
      signal?.throwIfAborted()
      let filled = 0
      while (filled < pieceSize) {
        const { bytesRead } = await fh.read(buf, filled, pieceSize - filled, null)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) break
      const piece = buf.subarray(0, filled)
      whole.update(piece)
      pieceHashes.push(new Uint8Array(createHash('sha256').update(piece).digest()))
      size += filled
      if (filled < pieceSize) break
    }
    return { pieceHashes, fileHash: new Uint8Array(whole.digest()), size }
  } finally {
    await fh.close()
  }
}
