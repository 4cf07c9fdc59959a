/**
 * A guard in front of yamux's frame decoder (THREATS R5).
 *
 * `@chainsafe/libp2p-yamux` 8.0.1 reads a data frame's 32-bit length from its
 * header and then buffers bytes until the whole frame has arrived; only then
 * does it check the frame against the stream's receive window. A peer that
 * finished Noise (any identity will do) can therefore send one header with
 * length 0xFFFFFFFF and stream up to 4 GiB into our memory (confirmed by
 * test/security/yamux-frame.test.ts and bench/security.ts against the
 * unguarded muxer).
 *
 * The guard follows the same frame boundaries as yamux (12-byte header;
 * only DATA frames carry a body of `length` bytes) and throws
 * {@link ProtocolError} on a DATA frame longer than `maxDataFrame` as soon as
 * its header is seen, before the body is buffered. libp2p's muxer base
 * class turns that throw into an abort of the muxer and of the connection.
 * A conforming sender never exceeds it: a frame may not be larger than the
 * stream's receive window, whose ceiling is `maxStreamWindowSize`.
 */
import { yamux, type YamuxMuxerInit } from '@chainsafe/libp2p-yamux'
import type { StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import { ProtocolError } from '../errors.js'

/** yamux frame header length (version, type, flags, stream id, length). */
export const YAMUX_HEADER_LENGTH = 12
/** yamux frame type of a DATA frame, the only one with a body. */
const TYPE_DATA = 0

/** Follows yamux frame boundaries across chunks and rejects oversized DATA frames. */
export class YamuxFrameGuard {
  readonly maxDataFrame: number
  /** body bytes of the current DATA frame still to skip */
  #bodyLeft = 0
  readonly #header = new Uint8Array(YAMUX_HEADER_LENGTH)
  #headerFill = 0

  constructor (maxDataFrame: number) {
    if (!Number.isSafeInteger(maxDataFrame) || maxDataFrame < 1) throw new RangeError('maxDataFrame must be a positive integer')
    this.maxDataFrame = maxDataFrame
  }

  /** Inspect the next bytes of the connection; throws {@link ProtocolError} on an oversized DATA frame. */
  feed (chunk: Uint8Array): void {
    let at = 0
    while (at < chunk.length) {
      if (this.#bodyLeft > 0) {
        const skip = Math.min(this.#bodyLeft, chunk.length - at)
        this.#bodyLeft -= skip
        at += skip
        continue
      }
      const take = Math.min(YAMUX_HEADER_LENGTH - this.#headerFill, chunk.length - at)
      this.#header.set(chunk.subarray(at, at + take), this.#headerFill)
      this.#headerFill += take
      at += take
      if (this.#headerFill < YAMUX_HEADER_LENGTH) return
      this.#headerFill = 0
      const h = this.#header
      if (h[1] !== TYPE_DATA) continue
      // big-endian uint32 without sign overflow
      const length = (h[8] ?? 0) * 2 ** 24 + ((h[9] ?? 0) << 16) + ((h[10] ?? 0) << 8) + (h[11] ?? 0)
      if (length > this.maxDataFrame) {
        throw new ProtocolError(`yamux DATA frame of ${length} bytes exceeds the ${this.maxDataFrame}-byte receive window ceiling; connection closed`)
      }
      this.#bodyLeft = length
    }
  }
}

interface ChunkList { subarray: () => Uint8Array, byteLength: number, [Symbol.iterator]: () => Iterator<Uint8Array> }

/**
 * `yamux(init)` whose muxers check every DATA frame header with a
 * {@link YamuxFrameGuard} before yamux buffers the frame.
 */
export function guardedYamux (init: YamuxMuxerInit & { maxDataFrame: number }): () => StreamMuxerFactory {
  const { maxDataFrame, ...yamuxInit } = init
  const inner = yamux(yamuxInit)
  return () => {
    const factory: StreamMuxerFactory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn): StreamMuxer => {
      const muxer = create(maConn) as StreamMuxer & { onData: (buf: Uint8Array | ChunkList) => void }
      const onData = muxer.onData.bind(muxer)
      const guard = new YamuxFrameGuard(maxDataFrame)
      // the muxer base class calls this.onData(evt.data) and aborts the
      // connection when it throws
      muxer.onData = (buf) => {
        if (buf instanceof Uint8Array) guard.feed(buf)
        else for (const part of buf) guard.feed(part)
        onData(buf)
      }
      return muxer
    }
    return factory
  }
}
