/**
 * The messages of `/doswarm/swarm/1.0.0` as the rest of doswarm sees them: a
 * discriminated union on `type`. The wire form (a flat protobuf header plus
 * raw payload bytes) lives in wire.ts; docs/PROTOCOL.md is the spec.
 *
 * {@link checkMessage} holds every rule that needs no knowledge of the
 * content (lengths, counts, character sets). The decoder applies it to every
 * frame it returns and the encoder to every frame it builds, so neither side
 * ever sees or sends a message a conforming peer would reject on syntax alone.
 */
import { ProtocolError } from '../errors.js'
import {
  MAX_ADDR_LENGTH, MAX_CLAIM_INDICES, MAX_CLAIM_TTL_MS, MAX_CONTENT_ID_LENGTH, MAX_LISTEN_ADDRS,
  MAX_PAYLOAD_LENGTH, MAX_PEER_ADDRS, MAX_PEER_ID_LENGTH, MAX_PEERS, MAX_PIECE_COUNT, MAX_UINT32
} from './constants.js'

export type MessageTypeName = Message['type']

/** Why a REQUEST was not served. */
export type RejectReason = 'NOT_HAVE' | 'BUSY' | 'INVALID'

/** First message on each side: which content, and which of its pieces the sender holds. */
export interface HelloMessage {
  readonly type: 'HELLO'
  /** The manifest's content id (ASCII letters and digits). */
  readonly contentId: string
  /** Number of pieces of the content; must match the receiver's manifest. */
  readonly pieceCount: number
  /** MSB-first bitmap of verified pieces, `ceil(pieceCount / 8)` bytes, spare bits zero. Sent as the frame payload. */
  readonly bitfield: Uint8Array
  /** The sender's own multiaddrs, for peer exchange. */
  readonly listenAddrs: readonly string[]
}

/** The sender now holds piece `index`, verified and durable. */
export interface HaveMessage {
  readonly type: 'HAVE'
  readonly index: number
}

/** Please send piece `index`. */
export interface RequestMessage {
  readonly type: 'REQUEST'
  readonly requestId: number
  readonly index: number
}

/** The bytes of piece `index` follow as the frame payload. */
export interface PieceMessage {
  readonly type: 'PIECE'
  readonly requestId: number
  readonly index: number
  /** Payload length; always set on decoded frames, optional (checked if given) when encoding. */
  readonly payloadLength?: number
}

/** REQUEST `requestId` for piece `index` will not be served. */
export interface RejectMessage {
  readonly type: 'REJECT'
  readonly requestId: number
  readonly index: number
  readonly reason: RejectReason
}

/** The requester no longer wants REQUEST `requestId`. */
export interface CancelMessage {
  readonly type: 'CANCEL'
  readonly requestId: number
}

/** The sender is fetching these pieces from the HTTP origin now; wait for its HAVE. */
export interface ClaimMessage {
  readonly type: 'CLAIM'
  /** Strictly increasing piece indices. */
  readonly indices: readonly number[]
  /** How long the claim stands, from receipt, in ms. */
  readonly ttlMs: number
}

/** The sender gave up its claim on these pieces. */
export interface ReleaseMessage {
  readonly type: 'RELEASE'
  readonly indices: readonly number[]
}

/** A peer known to be in this content's swarm. */
export interface PeerRecord {
  readonly peerId: string
  readonly addrs: readonly string[]
}

/** Peer exchange: other peers in this content's swarm. */
export interface PeersMessage {
  readonly type: 'PEERS'
  readonly peers: readonly PeerRecord[]
}

export type Message =
  | HelloMessage | HaveMessage | RequestMessage | PieceMessage | RejectMessage
  | CancelMessage | ClaimMessage | ReleaseMessage | PeersMessage

/**
 * A message as known once its header is decoded, before its payload: a
 * HELLO still lacks its bitfield. Every {@link Message} is also one.
 */
export type FrameHeader = Exclude<Message, HelloMessage> | Omit<HelloMessage, 'bitfield'>

/**
 * One decoded frame. `payload` is set exactly for PIECE (the piece bytes,
 * unverified). A HELLO's payload is surfaced as `message.bitfield` instead.
 */
export interface Frame {
  readonly message: Message
  readonly payload?: Uint8Array
  /**
   * The payload is a buffer of its own that the decoder assembled and keeps
   * no reference to (not a view of a received chunk): its receiver may keep
   * it without copying.
   */
  readonly owned?: true
}

export const REJECT_REASONS: readonly RejectReason[] = ['NOT_HAVE', 'BUSY', 'INVALID']

const ALNUM = /^[A-Za-z0-9]+$/
const ADDR = /^\/[\x21-\x7e]*$/

function fail (message: string): never {
  throw new ProtocolError(message)
}

export function checkUint32 (value: unknown, what: string): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_UINT32) fail(`${what} ${String(value)} is not a uint32`)
}

export function checkIndex (value: unknown, what = 'index'): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) >= MAX_PIECE_COUNT) fail(`${what} ${String(value)} out of range`)
}

function checkId (value: unknown, max: number, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || !ALNUM.test(value)) {
    fail(`${what} must be 1..${max} ASCII letters and digits`)
  }
}

export function checkContentId (value: unknown): void { checkId(value, MAX_CONTENT_ID_LENGTH, 'contentId') }

function checkAddrs (addrs: unknown, min: number, max: number, what: string): void {
  if (!Array.isArray(addrs)) fail(`${what} is not a list`)
  if (addrs.length < min || addrs.length > max) fail(`${what} has ${addrs.length} entries, allowed ${min}..${max}`)
  for (const a of addrs) {
    if (typeof a !== 'string' || a.length > MAX_ADDR_LENGTH || !ADDR.test(a)) fail(`${what} entry is not 1..${MAX_ADDR_LENGTH} printable ASCII bytes starting with /`)
  }
}

export function checkListenAddrs (addrs: unknown): void { checkAddrs(addrs, 0, MAX_LISTEN_ADDRS, 'listenAddrs') }

export function checkPieceCount (value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_PIECE_COUNT) fail(`pieceCount ${String(value)} out of range 0..${MAX_PIECE_COUNT}`)
}

/** Bytes of the bitfield of `pieceCount` pieces. */
export function bitfieldLength (pieceCount: number): number {
  return Math.ceil(pieceCount / 8)
}

export function checkBitfield (bitfield: unknown, pieceCount: number): void {
  if (!(bitfield instanceof Uint8Array)) fail('bitfield is not bytes')
  const size = bitfieldLength(pieceCount)
  if (bitfield.length !== size) fail(`bitfield of ${pieceCount} pieces must be ${size} bytes, got ${bitfield.length}`)
  const spare = pieceCount % 8
  if (spare !== 0 && (bitfield[size - 1] & (0xff >> spare)) !== 0) fail('bitfield has bits set past pieceCount')
}

function checkIndices (indices: unknown): void {
  if (!Array.isArray(indices)) fail('indices is not a list')
  if (indices.length < 1 || indices.length > MAX_CLAIM_INDICES) fail(`indices has ${indices.length} entries, allowed 1..${MAX_CLAIM_INDICES}`)
  let last = -1
  for (const i of indices) {
    checkIndex(i)
    if ((i as number) <= last) fail('indices are not strictly increasing')
    last = i as number
  }
}

export function checkPayloadLength (value: unknown, max = MAX_PAYLOAD_LENGTH): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) fail(`PIECE payloadLength ${String(value)} out of range 1..${max}`)
}

/**
 * Throws {@link ProtocolError} unless `msg` obeys every rule of docs/PROTOCOL.md
 * that needs no knowledge of the content (see {@link validateMessage} for those
 * that do).
 */
export function checkMessage (msg: Message): void {
  switch (msg.type) {
    case 'HELLO':
      checkContentId(msg.contentId)
      checkPieceCount(msg.pieceCount)
      checkBitfield(msg.bitfield, msg.pieceCount)
      checkListenAddrs(msg.listenAddrs)
      return
    case 'HAVE':
      checkIndex(msg.index)
      return
    case 'REQUEST':
      checkUint32(msg.requestId, 'requestId')
      checkIndex(msg.index)
      return
    case 'PIECE':
      checkUint32(msg.requestId, 'requestId')
      checkIndex(msg.index)
      if (msg.payloadLength !== undefined) checkPayloadLength(msg.payloadLength)
      return
    case 'REJECT':
      checkUint32(msg.requestId, 'requestId')
      checkIndex(msg.index)
      if (!REJECT_REASONS.includes(msg.reason)) fail(`unknown reject reason ${String(msg.reason)}`)
      return
    case 'CANCEL':
      checkUint32(msg.requestId, 'requestId')
      return
    case 'CLAIM':
      checkIndices(msg.indices)
      if (!Number.isInteger(msg.ttlMs) || msg.ttlMs < 1 || msg.ttlMs > MAX_CLAIM_TTL_MS) fail(`ttlMs ${String(msg.ttlMs)} out of range 1..${MAX_CLAIM_TTL_MS}`)
      return
    case 'RELEASE':
      checkIndices(msg.indices)
      return
    case 'PEERS':
      if (!Array.isArray(msg.peers) || msg.peers.length < 1 || msg.peers.length > MAX_PEERS) fail(`PEERS must carry 1..${MAX_PEERS} records`)
      for (const p of msg.peers) checkPeerRecord(p)
      return
    default:
      fail(`unknown message type ${String((msg as { type?: unknown }).type)}`)
  }
}

export function checkPeerRecord (p: PeerRecord): void {
  if (typeof p !== 'object' || p === null) fail('peer record is not an object')
  checkId(p.peerId, MAX_PEER_ID_LENGTH, 'peerId')
  checkAddrs(p.addrs, 1, MAX_PEER_ADDRS, 'addrs')
}
