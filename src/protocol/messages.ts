import { decodeMessage, encodeMessage, enumeration, MaxLengthError, message, streamMessage } from 'protons-runtime'
import { alloc as uint8ArrayAlloc } from 'uint8arrays/alloc'
import type { Codec, DecodeOptions } from 'protons-runtime'
import type { Uint8ArrayList } from 'uint8arraylist'

export enum MessageType {
  TYPE_UNSPECIFIED = 'TYPE_UNSPECIFIED',
  HELLO = 'HELLO',
  HAVE = 'HAVE',
  REQUEST = 'REQUEST',
  PIECE = 'PIECE',
  REJECT = 'REJECT',
  CANCEL = 'CANCEL',
  CLAIM = 'CLAIM',
  RELEASE = 'RELEASE',
  PEERS = 'PEERS'
}

enum __MessageTypeValues {
  TYPE_UNSPECIFIED = 0,
  HELLO = 1,
  HAVE = 2,
  REQUEST = 3,
  PIECE = 4,
  REJECT = 5,
  CANCEL = 6,
  CLAIM = 7,
  RELEASE = 8,
  PEERS = 9
}

export namespace MessageType {
  export const codec = (): Codec<MessageType> => {
    return enumeration<MessageType>(__MessageTypeValues)
  }
}

export enum RejectReason {
  REASON_UNSPECIFIED = 'REASON_UNSPECIFIED',
  NOT_HAVE = 'NOT_HAVE',
  BUSY = 'BUSY',
  INVALID = 'INVALID'
}

enum __RejectReasonValues {
  REASON_UNSPECIFIED = 0,
  NOT_HAVE = 1,
  BUSY = 2,
  INVALID = 3
}

export namespace RejectReason {
  export const codec = (): Codec<RejectReason> => {
    return enumeration<RejectReason>(__RejectReasonValues)
  }
}

export interface PeerRecord {
  peerId?: string
  addrs: string[]
}

export namespace PeerRecord {
  let _codec: Codec<PeerRecord>

  export const codec = (): Codec<PeerRecord> => {
    if (_codec == null) {
      _codec = message<PeerRecord>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.peerId != null) {
          w.uint32(10)
          w.string(obj.peerId)
        }

        if (obj.addrs != null && obj.addrs.length > 0) {
          for (const value of obj.addrs) {
            w.uint32(18)
            w.string(value)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          addrs: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.peerId = reader.string()
              break
            }
            case 2: {
              if (opts.limits?.addrs != null && obj.addrs.length === opts.limits.addrs) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              if (obj.addrs.length === 16) {
                throw new MaxLengthError('Decode error - repeated field "addrs" had too many elements')
              }

              obj.addrs.push(reader.string())
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          addrs: 16
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.peerId`,
                value: reader.string()
              }
              break
            }
            case 2: {
              if (opts.limits?.addrs != null && obj.addrs === opts.limits.addrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              if (obj.addrs === 16) {
                throw new MaxLengthError('Streaming decode error - repeated field "addrs" had too many elements')
              }

              yield {
                field: `${prefix}.addrs[]`,
                index: obj.addrs,
                value: reader.string()
              }

              obj.addrs++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface PeerRecordPeerIdFieldEvent {
    field: '$.peerId'
    value: string
  }

  export interface PeerRecordAddrsFieldEvent {
    field: '$.addrs[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<PeerRecord>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, PeerRecord.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerRecord>): PeerRecord {
    return decodeMessage(buf, PeerRecord.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<PeerRecord>): Generator<PeerRecordPeerIdFieldEvent | PeerRecordAddrsFieldEvent> {
    return streamMessage(buf, PeerRecord.codec(), opts)
  }
}

export interface Header {
  type?: MessageType
  payloadLength?: number
  requestId?: number
  index?: number
  reason?: RejectReason
  contentId?: string
  pieceCount?: number
  listenAddrs: string[]
  indices: Uint8Array<ArrayBuffer>
  ttlMs?: number
  peers: PeerRecord[]
}

export namespace Header {
  let _codec: Codec<Header>

  export const codec = (): Codec<Header> => {
    if (_codec == null) {
      _codec = message<Header>((obj, w, opts = {}) => {
        if (opts.lengthDelimited !== false) {
          w.fork()
        }

        if (obj.type != null) {
          w.uint32(8)
          MessageType.codec().encode(obj.type, w)
        }

        if (obj.payloadLength != null) {
          w.uint32(16)
          w.uint32(obj.payloadLength)
        }

        if (obj.requestId != null) {
          w.uint32(24)
          w.uint32(obj.requestId)
        }

        if (obj.index != null) {
          w.uint32(32)
          w.uint32(obj.index)
        }

        if (obj.reason != null) {
          w.uint32(40)
          RejectReason.codec().encode(obj.reason, w)
        }

        if (obj.contentId != null) {
          w.uint32(50)
          w.string(obj.contentId)
        }

        if (obj.pieceCount != null) {
          w.uint32(56)
          w.uint32(obj.pieceCount)
        }

        if (obj.listenAddrs != null && obj.listenAddrs.length > 0) {
          for (const value of obj.listenAddrs) {
            w.uint32(66)
            w.string(value)
          }
        }

        if ((obj.indices != null && obj.indices.byteLength > 0)) {
          w.uint32(74)
          w.bytes(obj.indices)
        }

        if (obj.ttlMs != null) {
          w.uint32(80)
          w.uint32(obj.ttlMs)
        }

        if (obj.peers != null && obj.peers.length > 0) {
          for (const value of obj.peers) {
            w.uint32(90)
            PeerRecord.codec().encode(value, w)
          }
        }

        if (opts.lengthDelimited !== false) {
          w.ldelim()
        }
      }, (reader, length, opts = {}) => {
        const obj: any = {
          listenAddrs: [],
          indices: uint8ArrayAlloc(0),
          peers: []
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              obj.type = MessageType.codec().decode(reader)
              break
            }
            case 2: {
              obj.payloadLength = reader.uint32()
              break
            }
            case 3: {
              obj.requestId = reader.uint32()
              break
            }
            case 4: {
              obj.index = reader.uint32()
              break
            }
            case 5: {
              obj.reason = RejectReason.codec().decode(reader)
              break
            }
            case 6: {
              obj.contentId = reader.string()
              break
            }
            case 7: {
              obj.pieceCount = reader.uint32()
              break
            }
            case 8: {
              if (opts.limits?.listenAddrs != null && obj.listenAddrs.length === opts.limits.listenAddrs) {
                throw new MaxLengthError('Decode error - repeated field "listenAddrs" had too many elements')
              }

              if (obj.listenAddrs.length === 16) {
                throw new MaxLengthError('Decode error - repeated field "listenAddrs" had too many elements')
              }

              obj.listenAddrs.push(reader.string())
              break
            }
            case 9: {
              obj.indices = reader.bytes()
              break
            }
            case 10: {
              obj.ttlMs = reader.uint32()
              break
            }
            case 11: {
              if (opts.limits?.peers != null && obj.peers.length === opts.limits.peers) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              if (obj.peers.length === 64) {
                throw new MaxLengthError('Decode error - repeated field "peers" had too many elements')
              }

              obj.peers.push(PeerRecord.codec().decode(reader, reader.uint32(), {
                limits: opts.limits?.peers$
              }))
              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }

        return obj
      }, function * (reader, length, prefix, opts = {}) {
        const obj = {
          listenAddrs: 16,
          peers: 64
        }

        const end = length == null ? reader.len : reader.pos + length

        while (reader.pos < end) {
          const tag = reader.uint32()

          switch (tag >>> 3) {
            case 1: {
              yield {
                field: `${prefix}.type`,
                value: MessageType.codec().decode(reader)
              }
              break
            }
            case 2: {
              yield {
                field: `${prefix}.payloadLength`,
                value: reader.uint32()
              }
              break
            }
            case 3: {
              yield {
                field: `${prefix}.requestId`,
                value: reader.uint32()
              }
              break
            }
            case 4: {
              yield {
                field: `${prefix}.index`,
                value: reader.uint32()
              }
              break
            }
            case 5: {
              yield {
                field: `${prefix}.reason`,
                value: RejectReason.codec().decode(reader)
              }
              break
            }
            case 6: {
              yield {
                field: `${prefix}.contentId`,
                value: reader.string()
              }
              break
            }
            case 7: {
              yield {
                field: `${prefix}.pieceCount`,
                value: reader.uint32()
              }
              break
            }
            case 8: {
              if (opts.limits?.listenAddrs != null && obj.listenAddrs === opts.limits.listenAddrs) {
                throw new MaxLengthError('Streaming decode error - repeated field "listenAddrs" had too many elements')
              }

              if (obj.listenAddrs === 16) {
                throw new MaxLengthError('Streaming decode error - repeated field "listenAddrs" had too many elements')
              }

              yield {
                field: `${prefix}.listenAddrs[]`,
                index: obj.listenAddrs,
                value: reader.string()
              }

              obj.listenAddrs++

              break
            }
            case 9: {
              yield {
                field: `${prefix}.indices`,
                value: reader.bytes()
              }
              break
            }
            case 10: {
              yield {
                field: `${prefix}.ttlMs`,
                value: reader.uint32()
              }
              break
            }
            case 11: {
              if (opts.limits?.peers != null && obj.peers === opts.limits.peers) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              if (obj.peers === 64) {
                throw new MaxLengthError('Streaming decode error - repeated field "peers" had too many elements')
              }

              for (const evt of PeerRecord.codec().stream(reader, reader.uint32(), `${prefix}.peers[]`, {
                limits: opts.limits?.peers$
              })) {
                yield {
                  ...evt,
                  index: obj.peers
                }
              }

              obj.peers++

              break
            }
            default: {
              reader.skipType(tag & 7)
              break
            }
          }
        }
      })
    }

    return _codec
  }

  export interface HeaderTypeFieldEvent {
    field: '$.type'
    value: MessageType
  }

  export interface HeaderPayloadLengthFieldEvent {
    field: '$.payloadLength'
    value: number
  }

  export interface HeaderRequestIdFieldEvent {
    field: '$.requestId'
    value: number
  }

  export interface HeaderIndexFieldEvent {
    field: '$.index'
    value: number
  }

  export interface HeaderReasonFieldEvent {
    field: '$.reason'
    value: RejectReason
  }

  export interface HeaderContentIdFieldEvent {
    field: '$.contentId'
    value: string
  }

  export interface HeaderPieceCountFieldEvent {
    field: '$.pieceCount'
    value: number
  }

  export interface HeaderListenAddrsFieldEvent {
    field: '$.listenAddrs[]'
    index: number
    value: string
  }

  export interface HeaderIndicesFieldEvent {
    field: '$.indices'
    value: Uint8Array<ArrayBuffer>
  }

  export interface HeaderTtlMsFieldEvent {
    field: '$.ttlMs'
    value: number
  }

  export interface HeaderPeersPeerIdFieldEvent {
    field: '$.peers[].peerId'
    value: string
    index: number
  }

  export interface HeaderPeersAddrsFieldEvent {
    field: '$.peers[].addrs[]'
    index: number
    value: string
  }

  export function encode (obj: Partial<Header>): Uint8Array<ArrayBuffer> {
    return encodeMessage(obj, Header.codec())
  }

  export function decode (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Header>): Header {
    return decodeMessage(buf, Header.codec(), opts)
  }

  export function stream (buf: Uint8Array | Uint8ArrayList, opts?: DecodeOptions<Header>): Generator<HeaderTypeFieldEvent | HeaderPayloadLengthFieldEvent | HeaderRequestIdFieldEvent | HeaderIndexFieldEvent | HeaderReasonFieldEvent | HeaderContentIdFieldEvent | HeaderPieceCountFieldEvent | HeaderListenAddrsFieldEvent | HeaderIndicesFieldEvent | HeaderTtlMsFieldEvent | HeaderPeersPeerIdFieldEvent | HeaderPeersAddrsFieldEvent> {
    return streamMessage(buf, Header.codec(), opts)
  }
}
