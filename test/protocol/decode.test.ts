import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_BITFIELD_LENGTH, MAX_HEADER_LENGTH, MAX_PAYLOAD_LENGTH, MAX_PIECE_COUNT } from '../../src/protocol/constants.js'
import { FrameDecoder } from '../../src/protocol/decode.js'
import { encodeFrame } from '../../src/protocol/encode.js'
import type { Frame } from '../../src/protocol/message.js'
import { Header, MessageType } from '../../src/protocol/messages.js'
import { messageContext, validateHeader } from '../../src/protocol/validate.js'
import { writeUvarint, uvarintLength } from '../../src/protocol/wire.js'
import { concat, expectedFrame, frameContent, sampleArb, splitAt, type Sample } from './arbitraries.js'

const isProtocolError = { name: 'ProtocolError', code: 'PROTOCOL_VIOLATION' }
const MAX_PAYLOAD = 4096

function streamOf (samples: readonly Sample[]): Uint8Array {
  return concat(samples.flatMap(s => encodeFrame(s.message, s.payload)))
}

/** A frame from a hand-built header (possibly one the encoder would refuse). */
function rawFrame (header: Partial<Header>, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = Header.encode(header)
  const prefix = new Uint8Array(uvarintLength(h.length))
  writeUvarint(h.length, prefix, 0)
  return concat([prefix, h, payload])
}

function pushAll (decoder: FrameDecoder, chunks: Array<Uint8Array | Uint8ArrayList>): Frame[] {
  return chunks.flatMap(c => decoder.push(c))
}

describe('FrameDecoder: input split anywhere', () => {
  it('yields the same frames for any split of the same bytes (property)', () => {
    fc.assert(fc.property(
      fc.array(sampleArb, { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.boolean(),
      (samples, cuts, asLists) => {
        const bytes = streamOf(samples)
        const whole = new FrameDecoder({ maxPayload: MAX_PAYLOAD }).push(bytes)
        assert.deepEqual(whole, samples.map(expectedFrame))
        let chunks: Array<Uint8Array | Uint8ArrayList> = splitAt(bytes, cuts)
        // also feed some chunks as multi-buffer lists, as libp2p streams do
        if (asLists) chunks = chunks.map((c, i) => i % 2 === 0 ? c : new Uint8ArrayList(c.subarray(0, 1), c.subarray(1)))
        const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
        assert.deepEqual(frameContent(pushAll(decoder, chunks)), whole)
        assert.equal(decoder.idle, true)
        decoder.end()
      }
    ), { numRuns: 300 })
  })

  it('decodes one byte at a time', () => {
    fc.assert(fc.property(fc.array(sampleArb, { minLength: 1, maxLength: 3 }), samples => {
      const bytes = streamOf(samples)
      const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
      const frames: Frame[] = []
      for (let i = 0; i < bytes.length; i++) frames.push(...decoder.push(bytes.slice(i, i + 1)))
      assert.deepEqual(frameContent(frames), samples.map(expectedFrame))
    }), { numRuns: 50 })
  })

  it('yields nothing and throws nothing for a truncated frame until the rest comes', () => {
    fc.assert(fc.property(sampleArb, fc.nat(), (sample, at) => {
      const bytes = streamOf([sample])
      const cut = at % bytes.length
      const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
      assert.deepEqual(decoder.push(bytes.subarray(0, cut)), [])
      assert.equal(decoder.idle, cut === 0)
      assert.deepEqual(frameContent(decoder.push(bytes.subarray(cut))), [expectedFrame(sample)])
      // a stream that ends there instead is cut inside a frame
      const cutShort = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
      cutShort.push(bytes.subarray(0, cut))
      if (cut > 0) assert.throws(() => { cutShort.end() }, (err: Error) => err.name === 'StreamTruncatedError' && /inside a frame/.test(err.message))
      else cutShort.end()
    }), { numRuns: 300 })
  })

  it('ignores empty chunks', () => {
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
    assert.deepEqual(decoder.push(new Uint8Array(0)), [])
    assert.deepEqual(decoder.push(new Uint8ArrayList()), [])
    assert.equal(decoder.idle, true)
  })
})

describe('FrameDecoder: payload copies', () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff)
  const bytes = concat(encodeFrame({ type: 'PIECE', requestId: 1, index: 2 }, data))

  it('returns a view of the chunk when the payload lies inside it', () => {
    const [frame] = new FrameDecoder({ maxPayload: MAX_PAYLOAD }).push(bytes)
    assert.equal(frame.payload?.buffer, bytes.buffer)
    assert.deepEqual(frame.payload, data)
  })

  it('copies once into one buffer when the payload spans chunks', () => {
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
    assert.deepEqual(decoder.push(bytes.subarray(0, 500)), [])
    assert.ok(decoder.bufferedBytes < 500)
    const [frame] = decoder.push(bytes.subarray(500))
    assert.notEqual(frame.payload?.buffer, bytes.buffer)
    assert.deepEqual(frame.payload, data)
    assert.equal(decoder.bufferedBytes, 0)
  })

  it('marks only a payload it assembled itself as owned', () => {
    const [view] = new FrameDecoder({ maxPayload: MAX_PAYLOAD }).push(bytes)
    assert.equal(view.owned, undefined)
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
    decoder.push(bytes.subarray(0, 500))
    const [assembled] = decoder.push(bytes.subarray(500))
    assert.equal(assembled.owned, true)
  })

  it('assembles a split payload in a buffer from alloc (stale contents overwritten)', () => {
    const sizes: number[] = []
    const recycled = new Uint8Array(data.length).fill(0xee)
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD, alloc: size => { sizes.push(size); return recycled } })
    decoder.push(bytes.subarray(0, 500))
    const [frame] = decoder.push(bytes.subarray(500))
    assert.deepEqual(sizes, [data.length])
    assert.equal(frame.payload, recycled)
    assert.deepEqual(frame.payload, data)
    // a payload inside one chunk needs no buffer at all
    decoder.push(bytes)
    assert.deepEqual(sizes, [data.length])
  })

  it('rejects an allocator that returns the wrong size', () => {
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD, alloc: size => new Uint8Array(size - 1) })
    assert.throws(() => decoder.push(bytes.subarray(0, 500)), isProtocolError)
  })
})

describe('FrameDecoder: lengths are checked before anything is allocated', () => {
  it('rejects a 1 GiB length prefix at its second byte', () => {
    const prefix = new Uint8Array(5)
    writeUvarint(2 ** 30, prefix, 0)
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
    assert.deepEqual(decoder.push(prefix.subarray(0, 1)), [])
    assert.throws(() => decoder.push(prefix.subarray(1, 2)), isProtocolError)
    assert.ok(decoder.bufferedBytes <= 2)
  })

  it('rejects varints of any length past the cap, and non-minimal ones', () => {
    for (const bytes of [[0x81, 0x20], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], [0x80, 0x00], [0x84, 0x80, 0x00], [0x00]]) {
      assert.throws(() => new FrameDecoder({ maxPayload: 1 }).push(Uint8Array.from(bytes)), isProtocolError, `${bytes}`)
    }
    // exactly the cap is fine: 4096 = 80 20
    assert.deepEqual(new FrameDecoder({ maxPayload: 1 }).push(Uint8Array.from([0x80, 0x20])), [])
  })

  it('honours a smaller maxHeader', () => {
    const bytes = streamOf([{ message: { type: 'REQUEST', requestId: 1, index: 300 } }])
    // header 08 03 18 01 20 ac 02: 7 bytes
    assert.throws(() => new FrameDecoder({ maxPayload: 1, maxHeader: 6 }).push(bytes), /header length 7 exceeds 6/)
    assert.equal(new FrameDecoder({ maxPayload: 1, maxHeader: 7 }).push(bytes).length, 1)
  })

  it('rejects a PIECE payloadLength over maxPayload as soon as its header is complete', () => {
    const frame = rawFrame({ type: MessageType.PIECE, requestId: 1, index: 1, payloadLength: MAX_PAYLOAD + 1 })
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
    assert.throws(() => decoder.push(frame), /payloadLength 4097 out of range 1..4096/)
    assert.equal(decoder.bufferedBytes, 0)
    const huge = rawFrame({ type: MessageType.PIECE, requestId: 1, index: 1, payloadLength: 0xffffffff })
    assert.throws(() => new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH }).push(huge), isProtocolError)
  })

  it('applies a lowered maxPayload to the next header', () => {
    const frame = concat(encodeFrame({ type: 'PIECE', requestId: 1, index: 1 }, new Uint8Array(100)))
    const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH })
    assert.equal(decoder.push(frame).length, 1)
    decoder.maxPayload = 99
    assert.throws(() => decoder.push(frame), isProtocolError)
  })

  it('bounds a HELLO bitfield by pieceCount, not by maxPayload', () => {
    const ok = { type: 'HELLO' as const, contentId: 'c', pieceCount: MAX_PIECE_COUNT, bitfield: new Uint8Array(MAX_BITFIELD_LENGTH), listenAddrs: [] }
    assert.equal(new FrameDecoder({ maxPayload: 1 }).push(concat(encodeFrame(ok))).length, 1)
    const tooMany = rawFrame({ type: MessageType.HELLO, contentId: 'c', pieceCount: MAX_PIECE_COUNT + 1, payloadLength: MAX_BITFIELD_LENGTH + 1 })
    assert.throws(() => new FrameDecoder({ maxPayload: 1 }).push(tooMany), /pieceCount/)
  })

  it('lets onHeader reject a frame before its payload is buffered', () => {
    // 3 pieces of 1000 bytes and a last one of 10
    const ctx = messageContext({ size: 3010, pieceSize: 1000 })
    const seen: string[] = []
    const decoder = new FrameDecoder({ maxPayload: 1000, onHeader: h => { seen.push(h.type); validateHeader(h, ctx) } })
    const ok = concat(encodeFrame({ type: 'PIECE', requestId: 1, index: 3 }, new Uint8Array(10)))
    assert.equal(decoder.push(ok).length, 1)
    const tooLong = concat(encodeFrame({ type: 'PIECE', requestId: 2, index: 3 }, new Uint8Array(1000)))
    // the header alone is enough to reject it
    assert.throws(() => decoder.push(tooLong.subarray(0, tooLong.length - 1000)), /PIECE 3 has 1000 bytes, expected 10/)
    assert.equal(decoder.bufferedBytes, 0)
    assert.deepEqual(seen, ['PIECE', 'PIECE'])
    // a HELLO reaches onHeader before its bitfield
    const hello = concat(encodeFrame({ type: 'HELLO', contentId: 'c', pieceCount: 5, bitfield: new Uint8Array(1), listenAddrs: [] }))
    assert.throws(() => new FrameDecoder({ maxPayload: 1, onHeader: h => { validateHeader(h, ctx) } }).push(hello.subarray(0, hello.length - 1)), /pieceCount 5 differs/)
  })

  it('validates its options', () => {
    assert.throws(() => new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH + 1 }), { name: 'UsageError' })
    assert.throws(() => new FrameDecoder({ maxPayload: -1 }), { name: 'UsageError' })
    assert.throws(() => new FrameDecoder({ maxPayload: 1, maxHeader: MAX_HEADER_LENGTH + 1 }), { name: 'UsageError' })
    assert.throws(() => new FrameDecoder({ maxPayload: 1, maxHeader: 0 }), { name: 'UsageError' })
    const decoder = new FrameDecoder({ maxPayload: 1 })
    assert.equal(decoder.maxHeader, MAX_HEADER_LENGTH)
    assert.throws(() => { decoder.maxPayload = 1.5 }, { name: 'UsageError' })
  })
})

describe('FrameDecoder: malformed headers', () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['no type', rawFrame({ index: 1 }), /without required field type/],
    ['TYPE_UNSPECIFIED', rawFrame({ type: MessageType.TYPE_UNSPECIFIED }), /unknown message type/],
    ['unknown type value', Uint8Array.from([0x02, 0x08, 0x0a]), /malformed header/],
    ['HAVE without index', rawFrame({ type: MessageType.HAVE }), /HAVE without required field index/],
    ['REQUEST without requestId', rawFrame({ type: MessageType.REQUEST, index: 1 }), /requestId/],
    ['PIECE without payloadLength', rawFrame({ type: MessageType.PIECE, requestId: 1, index: 1 }), /payloadLength/],
    ['PIECE with payloadLength 0', rawFrame({ type: MessageType.PIECE, requestId: 1, index: 1, payloadLength: 0 }), /payloadLength 0/],
    ['REJECT without reason', rawFrame({ type: MessageType.REJECT, requestId: 1, index: 1 }), /reason/],
    ['REJECT with reason 0', rawFrame({ type: MessageType.REJECT, requestId: 1, index: 1, reason: 'REASON_UNSPECIFIED' as never }), /reject reason/],
    ['CLAIM without ttlMs', rawFrame({ type: MessageType.CLAIM, indices: Uint8Array.from([1]) }), /ttlMs/],
    ['CLAIM without indices', rawFrame({ type: MessageType.CLAIM, ttlMs: 5 }), /indices/],
    ['HAVE with a payload', rawFrame({ type: MessageType.HAVE, index: 1, payloadLength: 1 }, Uint8Array.from([1])), /must not carry a payload/],
    ['HELLO bitfield of the wrong length', rawFrame({ type: MessageType.HELLO, contentId: 'c', pieceCount: 9, payloadLength: 1 }, Uint8Array.from([0])), /bitfield length/],
    ['HELLO bitfield with spare bits', rawFrame({ type: MessageType.HELLO, contentId: 'c', pieceCount: 9, payloadLength: 2 }, Uint8Array.from([0, 1])), /past pieceCount/],
    ['HELLO contentId with a slash', rawFrame({ type: MessageType.HELLO, contentId: '../x', pieceCount: 0 }), /contentId/],
    ['index past MAX_PIECE_COUNT', rawFrame({ type: MessageType.HAVE, index: MAX_PIECE_COUNT }), /index/],
    ['17 listenAddrs', rawFrame({ type: MessageType.HELLO, contentId: 'c', pieceCount: 0, listenAddrs: Array.from({ length: 17 }, () => '/a') }), /listenAddrs/],
    ['truncated protobuf', Uint8Array.from([0x03, 0x08, 0x02, 0x20]), /malformed header/],
    ['invalid wire type', Uint8Array.from([0x06, 0x08, 0x02, 0x20, 0x00, 0xa7, 0x01]), /malformed header/],
    ['string length past the end', Uint8Array.from([0x04, 0x08, 0x01, 0x32, 0x7f]), /malformed header/]
  ]

  for (const [name, bytes, pattern] of cases) {
    it(`rejects ${name}`, () => {
      const decoder = new FrameDecoder({ maxPayload: MAX_PAYLOAD })
      assert.throws(() => decoder.push(bytes), (err: Error) => err.name === 'ProtocolError' && pattern.test(err.message))
      // and stays failed
      assert.throws(() => decoder.push(new Uint8Array(0)), isProtocolError)
      assert.throws(() => { decoder.end() }, isProtocolError)
    })
  }

  it('ignores unknown fields and fields of other types', () => {
    const withExtras = rawFrame({ type: MessageType.HAVE, index: 3, requestId: 9, contentId: 'x', ttlMs: 5 })
    const unknownField = concat([Uint8Array.from([0x07, 0x08, 0x02, 0x20, 0x03, 0xf8, 0x07, 0x01])])
    for (const bytes of [withExtras, unknownField]) {
      assert.deepEqual(new FrameDecoder({ maxPayload: 1 }).push(bytes), [{ message: { type: 'HAVE', index: 3 } }])
    }
  })
})

describe('FrameDecoder: fuzz', () => {
  const maxPayload = 512
  const bound = 3 + MAX_HEADER_LENGTH + Math.max(maxPayload, MAX_BITFIELD_LENGTH)

  function feed (chunks: Uint8Array[]): void {
    const decoder = new FrameDecoder({ maxPayload })
    try {
      for (const c of chunks) {
        decoder.push(c)
        assert.ok(decoder.bufferedBytes <= bound)
      }
      decoder.end()
    } catch (err) {
      // a violation, or (from end()) a stream cut inside a frame
      if ((err as Error)?.name !== 'ProtocolError' && (err as Error)?.name !== 'StreamTruncatedError') throw err
    }
  }

  it('throws only ProtocolError (or StreamTruncatedError at the end) on random bytes, with bounded buffering', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      feed(splitAt(bytes, cuts))
    }), { numRuns: 3000 })
  })

  it('throws only ProtocolError (or StreamTruncatedError at the end) on random headers behind a valid length prefix', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }), (header, tail, cuts) => {
      const prefix = new Uint8Array(uvarintLength(header.length))
      writeUvarint(header.length, prefix, 0)
      feed(splitAt(concat([prefix, header, tail]), cuts))
    }), { numRuns: 3000 })
  })

  it('throws only ProtocolError (or StreamTruncatedError at the end) on mutated valid streams', () => {
    fc.assert(fc.property(
      fc.array(sampleArb, { minLength: 1, maxLength: 3 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 5 }),
      (samples, edits, cuts) => {
        const bytes = [...streamOf(samples)]
        for (const [at, value, op] of edits) {
          const i = at % (bytes.length + 1)
          if (op === 'set' && i < bytes.length) bytes[i] = value
          else if (op === 'insert') bytes.splice(i, 0, value)
          else bytes.splice(i, 1)
        }
        feed(splitAt(Uint8Array.from(bytes), cuts))
      }
    ), { numRuns: 1000 })
  })

  it('survives deeply nested protobuf groups', () => {
    // 4000 "start group" tags of an unknown field: the protobuf reader recurses
    const header = new Uint8Array(4000).fill(0x7b)
    const prefix = new Uint8Array(2)
    writeUvarint(header.length, prefix, 0)
    assert.throws(() => new FrameDecoder({ maxPayload: 1 }).push(concat([prefix, header])), isProtocolError)
  })
})

describe('FrameDecoder.bytesPushed', () => {
  it('counts every byte pushed, in chunks or lists, before the frame they belong to completes', async () => {
    const { encodePiece } = await import('../../src/protocol/encode.js')
    const frame = concat(encodePiece(7, 3, new Uint8Array(1000).fill(9)))
    const d = new FrameDecoder({ maxPayload: 4096 })
    assert.equal(d.bytesPushed, 0)
    assert.deepEqual(d.push(frame.subarray(0, 10)), [])
    assert.equal(d.bytesPushed, 10)
    assert.deepEqual(d.push(new Uint8ArrayList(frame.subarray(10, 500), frame.subarray(500, 600))), [])
    assert.equal(d.bytesPushed, 600, 'half a PIECE in: no frame yet, every byte counted')
    assert.equal(d.push(frame.subarray(600)).length, 1)
    assert.equal(d.bytesPushed, frame.length)
  })
})
