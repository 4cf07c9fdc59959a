import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  MAX_ADDR_LENGTH, MAX_CLAIM_INDICES, MAX_HEADER_LENGTH, MAX_LISTEN_ADDRS, MAX_PAYLOAD_LENGTH, MAX_PEERS
} from '../../src/protocol/constants.js'
import { FrameDecoder } from '../../src/protocol/decode.js'
import { encodeFrame, encodePiece, splitPeers } from '../../src/protocol/encode.js'
import type { Message, PeerRecord } from '../../src/protocol/message.js'
import { packIndices, unpackIndices } from '../../src/protocol/wire.js'
import { concat, expectedFrame, sampleArb } from './arbitraries.js'

const isProtocolError = { name: 'ProtocolError', code: 'PROTOCOL_VIOLATION' }

function roundTrip (message: Message, payload?: Uint8Array): unknown {
  const frames = new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH }).push(concat(encodeFrame(message, payload)))
  assert.equal(frames.length, 1)
  return frames[0]
}

describe('encodeFrame / FrameDecoder round trip', () => {
  const cases: Array<[Message, Uint8Array?]> = [
    [{ type: 'HELLO', contentId: 'bagaaiera', pieceCount: 0, bitfield: new Uint8Array(0), listenAddrs: [] }],
    [{ type: 'HELLO', contentId: 'bagaaiera', pieceCount: 9, bitfield: Uint8Array.from([0xff, 0x80]), listenAddrs: ['/ip4/10.0.0.1/tcp/7680', '/ip6/::1/tcp/7680'] }],
    [{ type: 'HAVE', index: 0 }],
    [{ type: 'REQUEST', requestId: 0, index: 0 }],
    [{ type: 'REQUEST', requestId: 0xffffffff, index: 1048575 }],
    [{ type: 'PIECE', requestId: 3, index: 0 }, Uint8Array.from([9])],
    [{ type: 'REJECT', requestId: 1, index: 2, reason: 'NOT_HAVE' }],
    [{ type: 'REJECT', requestId: 1, index: 2, reason: 'BUSY' }],
    [{ type: 'REJECT', requestId: 1, index: 2, reason: 'INVALID' }],
    [{ type: 'CANCEL', requestId: 0 }],
    [{ type: 'CLAIM', indices: [0], ttlMs: 1 }],
    [{ type: 'CLAIM', indices: Array.from({ length: MAX_CLAIM_INDICES }, (_, i) => 1048575 - MAX_CLAIM_INDICES + i + 1), ttlMs: 120000 }],
    [{ type: 'RELEASE', indices: [0, 1, 2] }],
    [{ type: 'PEERS', peers: [{ peerId: '12D3KooWabc', addrs: ['/ip4/10.0.0.2/tcp/7680'] }] }]
  ]
  for (const [message, payload] of cases) {
    it(`${message.type} ${JSON.stringify(message).slice(0, 60)}`, () => {
      assert.deepEqual(roundTrip(message, payload), expectedFrame({ message, payload }))
    })
  }

  it('round-trips every generated message (property)', () => {
    fc.assert(fc.property(sampleArb, s => {
      assert.deepEqual(roundTrip(s.message, s.payload), expectedFrame(s))
    }), { numRuns: 500 })
  })

  it('sends the payload as its own chunk, uncopied', () => {
    const data = new Uint8Array(1000).fill(5)
    const chunks = encodePiece(1, 2, data)
    assert.equal(chunks.length, 2)
    assert.equal(chunks[1], data)
    const hello = { type: 'HELLO' as const, contentId: 'x', pieceCount: 16, bitfield: new Uint8Array(2), listenAddrs: [] }
    assert.equal(encodeFrame(hello)[1], hello.bitfield)
    assert.equal(encodeFrame({ type: 'HAVE', index: 1 }).length, 1)
  })

  it('encodes required zero values explicitly', () => {
    assert.deepEqual([...encodeFrame({ type: 'HAVE', index: 0 })[0]], [0x04, 0x08, 0x02, 0x20, 0x00])
  })
})

describe('encodeFrame refuses frames a receiver would reject', () => {
  it('PIECE without payload, or with an empty or oversized one', () => {
    assert.throws(() => encodeFrame({ type: 'PIECE', requestId: 1, index: 1 }), isProtocolError)
    assert.throws(() => encodeFrame({ type: 'PIECE', requestId: 1, index: 1 }, new Uint8Array(0)), isProtocolError)
    assert.throws(() => encodeFrame({ type: 'PIECE', requestId: 1, index: 1 }, new Uint8Array(MAX_PAYLOAD_LENGTH + 1)), isProtocolError)
  })

  it('PIECE whose payloadLength disagrees with its payload', () => {
    assert.throws(() => encodeFrame({ type: 'PIECE', requestId: 1, index: 1, payloadLength: 3 }, new Uint8Array(4)), isProtocolError)
    assert.doesNotThrow(() => encodeFrame({ type: 'PIECE', requestId: 1, index: 1, payloadLength: 4 }, new Uint8Array(4)))
  })

  it('a payload on any other type', () => {
    assert.throws(() => encodeFrame({ type: 'HAVE', index: 1 }, new Uint8Array(1)), isProtocolError)
    assert.throws(() => encodeFrame({ type: 'HELLO', contentId: 'a', pieceCount: 0, bitfield: new Uint8Array(0), listenAddrs: [] }, new Uint8Array(1)), isProtocolError)
  })

  it('a header over MAX_HEADER_LENGTH', () => {
    const listenAddrs = Array.from({ length: MAX_LISTEN_ADDRS }, () => '/' + 'a'.repeat(MAX_ADDR_LENGTH - 1))
    assert.throws(() => encodeFrame({ type: 'HELLO', contentId: 'a', pieceCount: 0, bitfield: new Uint8Array(0), listenAddrs }), /exceeds 4096/)
  })

  it('messages that break a limit', () => {
    assert.throws(() => encodeFrame({ type: 'HAVE', index: -1 }), isProtocolError)
    assert.throws(() => encodeFrame({ type: 'CLAIM', indices: [2, 1], ttlMs: 10 }), isProtocolError)
    assert.throws(() => encodeFrame({ type: 'bogus' } as unknown as Message), isProtocolError)
  })
})

describe('packed indices', () => {
  it('match protobuf packed repeated uint32 and round-trip', () => {
    assert.deepEqual([...packIndices([1, 2, 300])], [0x01, 0x02, 0xac, 0x02])
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 50 }), a => {
      assert.deepEqual(unpackIndices(packIndices(a)), a)
    }))
  })

  it('reject truncated varints, values over uint32 and too many entries', () => {
    assert.throws(() => unpackIndices(Uint8Array.from([0x80])), isProtocolError)
    assert.throws(() => unpackIndices(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x10])), isProtocolError)
    assert.throws(() => unpackIndices(new Uint8Array(MAX_CLAIM_INDICES + 1)), isProtocolError)
  })
})

describe('splitPeers', () => {
  const record = (i: number): PeerRecord => ({ peerId: `12D3KooW${'x'.repeat(44)}${i}`, addrs: [`/ip4/192.168.1.${i % 250}/tcp/7680`, `/ip6/fe80::${i}/tcp/7680`] })

  it('packs every valid record into frames within the limits', () => {
    const peers = Array.from({ length: 300 }, (_, i) => record(i))
    const messages = splitPeers(peers)
    assert.deepEqual(messages.flatMap(m => m.peers), peers)
    for (const m of messages) {
      assert.ok(m.peers.length <= MAX_PEERS)
      assert.ok(encodeFrame(m)[0].length <= MAX_HEADER_LENGTH + 2)
    }
    assert.ok(messages.length < 20)
  })

  it('drops records that break a rule or cannot fit a header', () => {
    const huge = { peerId: 'abc', addrs: Array.from({ length: 16 }, () => '/' + 'a'.repeat(255)) }
    const bad = [{ peerId: '../etc', addrs: ['/ip4/1.2.3.4'] }, { peerId: 'ok', addrs: [] }, huge]
    assert.deepEqual(splitPeers([...bad, record(1)]), [{ type: 'PEERS', peers: [record(1)] }])
    assert.deepEqual(splitPeers([]), [])
  })
})
