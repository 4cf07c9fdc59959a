/**
 * Mapping between {@link Message} and the protobuf {@link Header} of
 * messages.proto, plus the two varint forms the wire uses: the frame's
 * length prefix and the packed `indices` field. Pure; no I/O.
 */
import { ProtocolError } from '../errors.js'
import { MAX_CLAIM_INDICES } from './constants.js'
import {
  bitfieldLength, checkContentId, checkListenAddrs, checkMessage, checkPayloadLength, checkPieceCount,
  type FrameHeader, type HelloMessage, type Message, type RejectReason
} from './message.js'
import { type Header, MessageType, RejectReason as PbRejectReason } from './messages.js'

function fail (message: string): never {
  throw new ProtocolError(message)
}

/** Bytes of the unsigned varint of `n` (n a safe non-negative integer). */
export function uvarintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

/** Write the unsigned varint of `n` at `offset`; returns the offset after it. */
export function writeUvarint (n: number, buf: Uint8Array, offset: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[offset++] = n
  return offset
}

/** Packed encoding of a list of uint32 (proto3 `repeated uint32`, packed). */
export function packIndices (indices: readonly number[]): Uint8Array<ArrayBuffer> {
  let size = 0
  for (const i of indices) size += uvarintLength(i)
  const out = new Uint8Array(size)
  let offset = 0
  for (const i of indices) offset = writeUvarint(i, out, offset)
  return out
}

/** Inverse of {@link packIndices}; stops with ProtocolError past {@link MAX_CLAIM_INDICES} entries. */
export function unpackIndices (bytes: Uint8Array): number[] {
  const out: number[] = []
  let pos = 0
  while (pos < bytes.length) {
    if (out.length === MAX_CLAIM_INDICES) fail(`more than ${MAX_CLAIM_INDICES} indices`)
    let value = 0
    for (let shift = 0; ; shift += 7) {
      if (pos === bytes.length) fail('truncated varint in indices')
      const b = bytes[pos++]
      if (shift === 28 && b > 0x0f) fail('index varint exceeds uint32')
      value += (b & 0x7f) * 2 ** shift
      if (b < 0x80) break
    }
    out.push(value)
  }
  return out
}

function need<T> (value: T | undefined, type: string, field: string): T {
  if (value === undefined) fail(`${type} without required field ${field}`)
  return value
}

function toReason (r: PbRejectReason | undefined): RejectReason {
  switch (r) {
    case PbRejectReason.NOT_HAVE: return 'NOT_HAVE'
    case PbRejectReason.BUSY: return 'BUSY'
    case PbRejectReason.INVALID: return 'INVALID'
  }
  return fail(r === undefined ? 'REJECT without required field reason' : `unknown reject reason ${r}`)
}

/**
 * Interpret a decoded header: check the type, the fields it requires, and its
 * payloadLength (PIECE: 1..maxPayload; HELLO: exactly the bitfield length;
 * others: none). Fields that do not belong to the type are ignored.
 */
export function fromHeader (h: Header, maxPayload: number): { pending: FrameHeader, payloadLength: number } {
  const payloadLength = h.payloadLength ?? 0
  const type = h.type
  if (type === undefined) fail('header without required field type')
  let pending: Exclude<Message, HelloMessage>
  switch (type) {
    case MessageType.HELLO: {
      const contentId = need(h.contentId, type, 'contentId')
      const pieceCount = need(h.pieceCount, type, 'pieceCount')
      checkContentId(contentId)
      checkPieceCount(pieceCount)
      checkListenAddrs(h.listenAddrs)
      if (payloadLength !== bitfieldLength(pieceCount)) fail(`HELLO payloadLength ${payloadLength} is not the bitfield length of ${pieceCount} pieces`)
      return { pending: { type: 'HELLO', contentId, pieceCount, listenAddrs: h.listenAddrs }, payloadLength }
    }
    case MessageType.PIECE:
      checkPayloadLength(need(h.payloadLength, type, 'payloadLength'), maxPayload)
      pending = { type: 'PIECE', requestId: need(h.requestId, type, 'requestId'), index: need(h.index, type, 'index'), payloadLength }
      break
    case MessageType.HAVE:
      pending = { type: 'HAVE', index: need(h.index, type, 'index') }
      break
    case MessageType.REQUEST:
      pending = { type: 'REQUEST', requestId: need(h.requestId, type, 'requestId'), index: need(h.index, type, 'index') }
      break
    case MessageType.REJECT:
      pending = { type: 'REJECT', requestId: need(h.requestId, type, 'requestId'), index: need(h.index, type, 'index'), reason: toReason(h.reason) }
      break
    case MessageType.CANCEL:
      pending = { type: 'CANCEL', requestId: need(h.requestId, type, 'requestId') }
      break
    case MessageType.CLAIM:
      pending = { type: 'CLAIM', indices: unpackIndices(h.indices), ttlMs: need(h.ttlMs, type, 'ttlMs') }
      break
    case MessageType.RELEASE:
      pending = { type: 'RELEASE', indices: unpackIndices(h.indices) }
      break
    case MessageType.PEERS:
      pending = {
        type: 'PEERS',
        peers: h.peers.map(p => ({ peerId: need(p.peerId, type, 'peers.peerId'), addrs: p.addrs }))
      }
      break
    default:
      return fail(`unknown message type ${type}`)
  }
  if (pending.type !== 'PIECE' && payloadLength !== 0) fail(`${pending.type} must not carry a payload`)
  checkMessage(pending)
  return { pending, payloadLength }
}

/** The protobuf header of `msg`; `payloadLength` is the byte count that will follow it. */
export function toHeader (msg: Message, payloadLength: number): Partial<Header> {
  const h: Partial<Header> = { type: MessageType[msg.type] }
  if (payloadLength > 0) h.payloadLength = payloadLength
  switch (msg.type) {
    case 'HELLO':
      h.contentId = msg.contentId
      h.pieceCount = msg.pieceCount
      h.listenAddrs = [...msg.listenAddrs]
      break
    case 'HAVE':
      h.index = msg.index
      break
    case 'REQUEST':
    case 'PIECE':
      h.requestId = msg.requestId
      h.index = msg.index
      break
    case 'REJECT':
      h.requestId = msg.requestId
      h.index = msg.index
      h.reason = PbRejectReason[msg.reason]
      break
    case 'CANCEL':
      h.requestId = msg.requestId
      break
    case 'CLAIM':
      h.indices = packIndices(msg.indices)
      h.ttlMs = msg.ttlMs
      break
    case 'RELEASE':
      h.indices = packIndices(msg.indices)
      break
    case 'PEERS':
      h.peers = msg.peers.map(p => ({ peerId: p.peerId, addrs: [...p.addrs] }))
      break
  }
  return h
}
