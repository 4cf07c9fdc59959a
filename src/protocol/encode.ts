/**
 * Frame encoder: `uvarint(headerLength) ‖ header ‖ payload`. The payload is
 * returned as its own chunk so a piece is handed to the stream without being
 * copied.
 */
import { ProtocolError } from '../errors.js'
import { MAX_HEADER_LENGTH, MAX_PEERS } from './constants.js'
import { checkMessage, checkPayloadLength, checkPeerRecord, type Message, type PeerRecord, type PeersMessage } from './message.js'
import { Header, PeerRecord as PbPeerRecord } from './messages.js'
import { toHeader, uvarintLength, writeUvarint } from './wire.js'

function fail (message: string): never {
  throw new ProtocolError(message)
}

/**
 * Encode one frame. Returns `[lengthPrefix ‖ header]`, followed by the payload
 * chunk when there is one (PIECE: `payload`; HELLO: `msg.bitfield`), never
 * copied. Throws {@link ProtocolError} for any message a conforming receiver
 * would reject without knowing the content: a limit broken, a PIECE without
 * payload, a payload on another type, a header over {@link MAX_HEADER_LENGTH}.
 */
export function encodeFrame (msg: Message, payload?: Uint8Array): Uint8Array[] {
  checkMessage(msg)
  let body: Uint8Array | undefined
  if (msg.type === 'PIECE') {
    if (payload === undefined) fail('PIECE needs a payload')
    checkPayloadLength(payload.length)
    if (msg.payloadLength !== undefined && msg.payloadLength !== payload.length) {
      fail(`PIECE payloadLength ${msg.payloadLength} differs from payload of ${payload.length} bytes`)
    }
    body = payload
  } else {
    if (payload !== undefined) fail(`${msg.type} must not carry a payload`)
    if (msg.type === 'HELLO' && msg.bitfield.length > 0) body = msg.bitfield
  }
  const header = Header.encode(toHeader(msg, body?.length ?? 0))
  if (header.length > MAX_HEADER_LENGTH) fail(`${msg.type} header of ${header.length} bytes exceeds ${MAX_HEADER_LENGTH}`)
  const head = new Uint8Array(uvarintLength(header.length) + header.length)
  head.set(header, writeUvarint(header.length, head, 0))
  return body === undefined ? [head] : [head, body]
}

/** `encodeFrame({ type: 'PIECE', requestId, index }, data)`. */
export function encodePiece (requestId: number, index: number, data: Uint8Array): Uint8Array[] {
  return encodeFrame({ type: 'PIECE', requestId, index }, data)
}

/** Bytes of a header holding only `type` (tag + one-byte enum). */
const TYPE_FIELD_BYTES = 2

/**
 * Pack peer records into as few PEERS messages as the limits allow (at most
 * {@link MAX_PEERS} records and {@link MAX_HEADER_LENGTH} header bytes each).
 * Peer exchange relays hints learned from others, so records that break a
 * rule, or could not fit a header even alone, are dropped rather than thrown.
 */
export function splitPeers (peers: Iterable<PeerRecord>): PeersMessage[] {
  const out: PeersMessage[] = []
  let batch: PeerRecord[] = []
  let size = TYPE_FIELD_BYTES
  for (const p of peers) {
    try {
      checkPeerRecord(p)
    } catch (err) {
      if (err instanceof ProtocolError) continue
      throw err
    }
    const record = PbPeerRecord.encode({ peerId: p.peerId, addrs: [...p.addrs] }).length
    const cost = 1 + uvarintLength(record) + record
    if (TYPE_FIELD_BYTES + cost > MAX_HEADER_LENGTH) continue
    if (batch.length === MAX_PEERS || size + cost > MAX_HEADER_LENGTH) {
      out.push({ type: 'PEERS', peers: batch })
      batch = []
      size = TYPE_FIELD_BYTES
    }
    batch.push(p)
    size += cost
  }
  if (batch.length > 0) out.push({ type: 'PEERS', peers: batch })
  return out
}
