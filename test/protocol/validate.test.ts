import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_ADDR_LENGTH, MAX_CLAIM_INDICES, MAX_CLAIM_TTL_MS, MAX_CONTENT_ID_LENGTH, MAX_LISTEN_ADDRS,
  MAX_PEER_ADDRS, MAX_PEER_ID_LENGTH, MAX_PEERS
} from '../../src/protocol/constants.js'
import { checkMessage, type Message } from '../../src/protocol/message.js'
import { expectedPieceLength, messageContext, validateMessage } from '../../src/protocol/validate.js'

const MiB = 1024 * 1024
// 10 pieces of 1 MiB and a last one of 5 bytes
const ctx = messageContext({ size: 10 * MiB + 5, pieceSize: MiB })
const isProtocolError = { name: 'ProtocolError', code: 'PROTOCOL_VIOLATION' }

const hello = (over: Partial<Extract<Message, { type: 'HELLO' }>> = {}): Message =>
  ({ type: 'HELLO', contentId: 'bagaaiera', pieceCount: 11, bitfield: Uint8Array.from([0xff, 0xe0]), listenAddrs: [], ...over })
const peers = (n: number, addrs = ['/ip4/1.2.3.4/tcp/1']): Message =>
  ({ type: 'PEERS', peers: Array.from({ length: n }, (_, i) => ({ peerId: `p${i}`, addrs })) })

describe('messageContext', () => {
  it('derives piece count and lengths from the manifest', () => {
    assert.deepEqual(ctx, { pieceCount: 11, pieceSize: MiB, lastPieceLength: 5 })
    assert.equal(expectedPieceLength(ctx, 0), MiB)
    assert.equal(expectedPieceLength(ctx, 10), 5)
    assert.deepEqual(messageContext({ size: 2 * MiB, pieceSize: MiB }), { pieceCount: 2, pieceSize: MiB, lastPieceLength: MiB })
    assert.deepEqual(messageContext({ size: 0, pieceSize: MiB }), { pieceCount: 0, pieceSize: MiB, lastPieceLength: 0 })
  })
})

describe('validateMessage accepts', () => {
  const valid: Message[] = [
    hello(),
    hello({ bitfield: new Uint8Array(2), listenAddrs: Array.from({ length: MAX_LISTEN_ADDRS }, () => '/' + 'a'.repeat(MAX_ADDR_LENGTH - 1)) }),
    { type: 'HAVE', index: 10 },
    { type: 'REQUEST', requestId: 0, index: 0 },
    { type: 'PIECE', requestId: 1, index: 0, payloadLength: MiB },
    { type: 'PIECE', requestId: 1, index: 10, payloadLength: 5 },
    { type: 'PIECE', requestId: 1, index: 10 },
    { type: 'REJECT', requestId: 1, index: 10, reason: 'BUSY' },
    { type: 'CANCEL', requestId: 0xffffffff },
    { type: 'CLAIM', indices: [0, 5, 10], ttlMs: MAX_CLAIM_TTL_MS },
    { type: 'RELEASE', indices: [10] },
    peers(MAX_PEERS),
    { type: 'PEERS', peers: [{ peerId: 'x'.repeat(MAX_PEER_ID_LENGTH), addrs: Array.from({ length: MAX_PEER_ADDRS }, () => '/a') }] }
  ]
  for (const msg of valid) {
    it(`${msg.type} ${JSON.stringify(msg).slice(0, 70)}`, () => { validateMessage(msg, ctx) })
  }
})

describe('validateMessage rejects', () => {
  const invalid: Array<[string, Message, RegExp]> = [
    ['HELLO with another pieceCount', hello({ pieceCount: 12, bitfield: new Uint8Array(2) }), /pieceCount 12 differs/],
    ['HELLO bitfield too short', hello({ bitfield: new Uint8Array(1) }), /must be 2 bytes/],
    ['HELLO bitfield too long', hello({ bitfield: new Uint8Array(3) }), /must be 2 bytes/],
    ['HELLO bitfield with spare bits set', hello({ bitfield: Uint8Array.from([0, 0x10]) }), /past pieceCount/],
    ['HELLO contentId too long', hello({ contentId: 'a'.repeat(MAX_CONTENT_ID_LENGTH + 1) }), /contentId/],
    ['HELLO empty contentId', hello({ contentId: '' }), /contentId/],
    ['HELLO contentId with path characters', hello({ contentId: '../../etc' }), /contentId/],
    ['HELLO contentId with NUL', hello({ contentId: 'ab\u0000' }), /contentId/],
    ['HELLO with too many listenAddrs', hello({ listenAddrs: Array.from({ length: MAX_LISTEN_ADDRS + 1 }, () => '/a') }), /listenAddrs has 17/],
    ['HELLO address too long', hello({ listenAddrs: ['/' + 'a'.repeat(MAX_ADDR_LENGTH)] }), /listenAddrs entry/],
    ['HELLO address not starting with /', hello({ listenAddrs: ['ip4/1.2.3.4'] }), /listenAddrs entry/],
    ['HELLO address with a space', hello({ listenAddrs: ['/ip4/1.2.3.4 '] }), /listenAddrs entry/],
    ['HELLO address not ASCII', hello({ listenAddrs: ['/dns/bücher.example'] }), /listenAddrs entry/],
    ['HAVE index = pieceCount', { type: 'HAVE', index: 11 }, /index 11 out of range/],
    ['HAVE negative index', { type: 'HAVE', index: -1 }, /index -1 out of range/],
    ['HAVE fractional index', { type: 'HAVE', index: 1.5 }, /index/],
    ['REQUEST index out of range', { type: 'REQUEST', requestId: 1, index: 11 }, /out of range/],
    ['REQUEST requestId over uint32', { type: 'REQUEST', requestId: 2 ** 32, index: 1 }, /requestId/],
    ['PIECE index out of range', { type: 'PIECE', requestId: 1, index: 11 }, /out of range/],
    ['PIECE short of a full piece', { type: 'PIECE', requestId: 1, index: 3, payloadLength: MiB - 1 }, /expected 1048576/],
    ['PIECE last piece too long', { type: 'PIECE', requestId: 1, index: 10, payloadLength: 6 }, /expected 5/],
    ['REJECT index out of range', { type: 'REJECT', requestId: 1, index: 99, reason: 'BUSY' }, /out of range/],
    ['REJECT unknown reason', { type: 'REJECT', requestId: 1, index: 1, reason: 'NOPE' as never }, /reason/],
    ['CANCEL without requestId', { type: 'CANCEL' } as never, /requestId/],
    ['CLAIM index out of range', { type: 'CLAIM', indices: [1, 11], ttlMs: 5 }, /11 out of range/],
    ['CLAIM with no indices', { type: 'CLAIM', indices: [], ttlMs: 5 }, /indices has 0/],
    ['CLAIM with too many indices', { type: 'CLAIM', indices: Array.from({ length: MAX_CLAIM_INDICES + 1 }, (_, i) => i), ttlMs: 5 }, /indices has 1025/],
    ['CLAIM with duplicate indices', { type: 'CLAIM', indices: [1, 1], ttlMs: 5 }, /strictly increasing/],
    ['CLAIM with unsorted indices', { type: 'CLAIM', indices: [2, 1], ttlMs: 5 }, /strictly increasing/],
    ['CLAIM ttl 0', { type: 'CLAIM', indices: [1], ttlMs: 0 }, /ttlMs/],
    ['CLAIM ttl over the cap', { type: 'CLAIM', indices: [1], ttlMs: MAX_CLAIM_TTL_MS + 1 }, /ttlMs 120001/],
    ['RELEASE index out of range', { type: 'RELEASE', indices: [11] }, /out of range/],
    ['PEERS with no records', peers(0), /1\.\.64/],
    ['PEERS with too many records', peers(MAX_PEERS + 1), /1\.\.64/],
    ['PEERS record without addrs', peers(1, []), /addrs has 0/],
    ['PEERS record with too many addrs', peers(1, Array.from({ length: MAX_PEER_ADDRS + 1 }, () => '/a')), /addrs has 17/],
    ['PEERS record with a bad peerId', { type: 'PEERS', peers: [{ peerId: 'a b', addrs: ['/a'] }] }, /peerId/],
    ['PEERS record with a long peerId', { type: 'PEERS', peers: [{ peerId: 'a'.repeat(MAX_PEER_ID_LENGTH + 1), addrs: ['/a'] }] }, /peerId/],
    ['unknown type', { type: 'BYE' } as never, /unknown message type/]
  ]
  for (const [name, msg, pattern] of invalid) {
    it(name, () => {
      assert.throws(() => { validateMessage(msg, ctx) }, (err: Error) => err.name === 'ProtocolError' && pattern.test(err.message))
    })
  }

  it('leaves context-free rules to checkMessage, which needs no manifest', () => {
    assert.doesNotThrow(() => { checkMessage({ type: 'HAVE', index: 500_000 }) })
    assert.throws(() => { checkMessage({ type: 'HAVE', index: 2 ** 20 }) }, isProtocolError)
    assert.throws(() => { validateMessage({ type: 'HAVE', index: 500_000 }, ctx) }, isProtocolError)
  })
})
