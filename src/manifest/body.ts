/**
 * The manifest body: canonical JSON with a fixed key order and no spaces.
 * Parsing re-encodes what it read and demands the exact same bytes, so one
 * manifest has exactly one byte form — and therefore exactly one content id.
 */
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { ManifestMalformedError, ManifestUnsupportedError } from '../errors.js'

/** Manifest format version written and accepted. */
export const MANIFEST_FORMAT = 1
/** Smallest piece size: 16 KiB. */
export const MIN_PIECE_SIZE = 16 * 1024
/** Largest piece size: 16 MiB. */
export const MAX_PIECE_SIZE = 16 * 1024 * 1024
/** Default piece size: 1 MiB. */
export const DEFAULT_PIECE_SIZE = 1024 * 1024
/** At most this many origin URLs. */
export const MAX_ORIGINS = 16
/** Longest display name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 255
/** Longest origin URL. */
export const MAX_URL_LENGTH = 2048
const SHA256_DIGEST_BYTES = 32

/** The fields a publisher signs. */
export interface ManifestBody {
  format: number
  name: string
  size: number
  pieceSize: number
  /** raw 32-byte SHA-256 digests */
  pieceHashes: Uint8Array[]
  fileHash: Uint8Array
  origins: string[]
  createdAt: number
  expiresAt?: number
  version: number
}

interface JsonBody {
  format: number
  name: string
  size: number
  pieceSize: number
  pieces: string[]
  fileHash: string
  origins: string[]
  createdAt: string
  expiresAt?: string
  version: number
}

function encodeHash (digest: Uint8Array): string {
  return base58btc.encode(Digest.create(sha256.code, digest).bytes)
}

function decodeHash (text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string' || text.length > 100) throw new ManifestMalformedError(`${what} is not a multihash string`)
  let mh: ReturnType<typeof Digest.decode>
  try {
    mh = Digest.decode(base58btc.decode(text))
  } catch {
    throw new ManifestMalformedError(`${what} is not a base58btc multihash`)
  }
  if (mh.code !== sha256.code) throw new ManifestUnsupportedError(`${what} uses hash 0x${mh.code.toString(16)}; only sha2-256 is accepted`)
  if (mh.digest.length !== SHA256_DIGEST_BYTES) throw new ManifestMalformedError(`${what} has a ${mh.digest.length}-byte digest`)
  return mh.digest
}

/** Encode a body to its canonical bytes. */
export function encodeBody (body: ManifestBody): Uint8Array {
  const json: Omit<JsonBody, 'version'> & { version?: number } = {
    format: body.format,
    name: body.name,
    size: body.size,
    pieceSize: body.pieceSize,
    pieces: body.pieceHashes.map(encodeHash),
    fileHash: encodeHash(body.fileHash),
    origins: body.origins,
    createdAt: new Date(body.createdAt).toISOString()
  }
  if (body.expiresAt !== undefined) json.expiresAt = new Date(body.expiresAt).toISOString()
  json.version = body.version
  return new TextEncoder().encode(JSON.stringify(json))
}

const KEYS = ['format', 'name', 'size', 'pieceSize', 'pieces', 'fileHash', 'origins', 'createdAt', 'expiresAt', 'version']

function isoTime (v: unknown, what: string): number {
  if (typeof v !== 'string') throw new ManifestMalformedError(`${what} must be an ISO time string`)
  const t = Date.parse(v)
  if (!Number.isFinite(t)) throw new ManifestMalformedError(`${what} is not a valid time`)
  return t
}

function positiveInt (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ManifestMalformedError(`${what} must be a non-negative integer`)
  return v
}

/** Check that `url` is an absolute http(s) URL; returns the reason when not. */
export function checkOriginUrl (url: unknown): string | undefined {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH) return 'not a string of 1..2048 characters'
  let u: URL
  try { u = new URL(url) } catch { return 'not a valid URL' }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol} is not http or https`
  if (u.username !== '' || u.password !== '') return 'credentials in URLs are not allowed'
  return undefined
}

/** Check that `n` is a power of two within the piece-size range; returns the reason when not. */
export function checkPieceSize (n: number): string | undefined {
  if (!Number.isSafeInteger(n) || n < MIN_PIECE_SIZE || n > MAX_PIECE_SIZE || (n & (n - 1)) !== 0) {
    return `piece size must be a power of two from ${MIN_PIECE_SIZE} to ${MAX_PIECE_SIZE} bytes`
  }
  return undefined
}

/**
 * Parse canonical body bytes. Throws {@link ManifestMalformedError} for
 * anything that is not exactly what {@link encodeBody} would produce, and
 * {@link ManifestUnsupportedError} for an unknown format or hash.
 */
export function parseBody (bytes: Uint8Array): ManifestBody {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new ManifestMalformedError('manifest body is not UTF-8')
  }
  let json: unknown
  try { json = JSON.parse(text) } catch { throw new ManifestMalformedError('manifest body is not JSON') }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ManifestMalformedError('manifest body is not an object')
  const o = json as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KEYS.includes(k)) throw new ManifestMalformedError(`unknown manifest field "${k}"`)
  if (o.format !== MANIFEST_FORMAT) {
    if (typeof o.format === 'number') throw new ManifestUnsupportedError(`manifest format ${o.format} is not supported (expected ${MANIFEST_FORMAT})`)
    throw new ManifestMalformedError('manifest format is missing')
  }
  if (typeof o.name !== 'string' || o.name.length > MAX_NAME_LENGTH) throw new ManifestMalformedError('name must be a string of at most 255 characters')
  const size = positiveInt(o.size, 'size')
  if (size === 0) throw new ManifestMalformedError('size must be at least 1 byte')
  const pieceSize = positiveInt(o.pieceSize, 'pieceSize')
  const psProblem = checkPieceSize(pieceSize)
  if (psProblem !== undefined) throw new ManifestMalformedError(psProblem)
  if (!Array.isArray(o.pieces)) throw new ManifestMalformedError('pieces must be an array')
  const expected = Math.ceil(size / pieceSize)
  if (o.pieces.length !== expected) throw new ManifestMalformedError(`pieces has ${o.pieces.length} hashes, size and piece size need ${expected}`)
  const pieceHashes = o.pieces.map((p, i) => decodeHash(p, `piece ${i}`))
  const fileHash = decodeHash(o.fileHash, 'fileHash')
  if (!Array.isArray(o.origins) || o.origins.length === 0 || o.origins.length > MAX_ORIGINS) throw new ManifestMalformedError(`origins must list 1..${MAX_ORIGINS} URLs`)
  for (const u of o.origins) {
    const why = checkOriginUrl(u)
    if (why !== undefined) throw new ManifestMalformedError(`origin ${JSON.stringify(u).slice(0, 80)}: ${why}`)
  }
  const body: ManifestBody = {
    format: MANIFEST_FORMAT,
    name: o.name,
    size,
    pieceSize,
    pieceHashes,
    fileHash,
    origins: o.origins as string[],
    createdAt: isoTime(o.createdAt, 'createdAt'),
    version: positiveInt(o.version, 'version')
  }
  if (o.expiresAt !== undefined) body.expiresAt = isoTime(o.expiresAt, 'expiresAt')
  const again = encodeBody(body)
  if (again.length !== bytes.length || !again.every((b, i) => b === bytes[i])) {
    throw new ManifestMalformedError('manifest body is not in canonical form')
  }
  return body
}
