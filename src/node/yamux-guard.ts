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
 *
 * It also counts the streams the remote opens (frames carrying the SYN flag)
 * and closes the connection when more than `maxStreamOpens` arrive within
 * `windowMs` (THREATS R3: yamux and libp2p reset streams over their caps, but
 * resetting costs us work for every stream the peer opens; the guard ends
 * the flood). The reason is kept per muxer ({@link guardViolation}) so the
 * node can ban the peer when the connection closes.
 */
import { yamux, type YamuxMuxerInit } from '@chainsafe/libp2p-yamux'
import type { StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'
import { ProtocolError } from '../errors.js'

/** yamux frame header length (version, type, flags, stream id, length). */
export const YAMUX_HEADER_LENGTH = 12
/** yamux frame type of a DATA frame, the only one with a body. */
const TYPE_DATA = 0
/** yamux frame type WINDOW_UPDATE (may open a stream, like DATA). */
const TYPE_WINDOW_UPDATE = 1
/** yamux SYN flag: the frame opens a new stream. */
const FLAG_SYN = 1

/** Limits of a {@link YamuxFrameGuard}. */
export interface YamuxGuardLimits {
  /** longest DATA frame accepted (the receive window ceiling) */
  maxDataFrame: number
  /** streams the remote may open within `windowMs` @default Infinity */
  maxStreamOpens?: number
  /** @default 10000 */
  windowMs?: number
}

/** Follows yamux frame boundaries across chunks and rejects oversized DATA frames. */
export class YamuxFrameGuard {
  readonly maxDataFrame: number
  readonly maxStreamOpens: number
  readonly windowMs: number
  /** body bytes of the current DATA frame still to skip */
  #bodyLeft = 0
  readonly #header = new Uint8Array(YAMUX_HEADER_LENGTH)
  #headerFill = 0
  #windowStart = 0
  #opens = 0
  readonly #now: () => number

  constructor (limits: YamuxGuardLimits | number, now: () => number = () => performance.now()) {
    const l = typeof limits === 'number' ? { maxDataFrame: limits } : limits
    if (!Number.isSafeInteger(l.maxDataFrame) || l.maxDataFrame < 1) throw new RangeError('maxDataFrame must be a positive integer')
    this.maxDataFrame = l.maxDataFrame
    this.maxStreamOpens = l.maxStreamOpens ?? Infinity
    this.windowMs = l.windowMs ?? 10_000
    this.#now = now
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
      if ((h[1] === TYPE_DATA || h[1] === TYPE_WINDOW_UPDATE) && ((h[3] ?? 0) & FLAG_SYN) !== 0) this.#opened()
      if (h[1] !== TYPE_DATA) continue
      // big-endian uint32 without sign overflow
      const length = (h[8] ?? 0) * 2 ** 24 + ((h[9] ?? 0) << 16) + ((h[10] ?? 0) << 8) + (h[11] ?? 0)
      if (length > this.maxDataFrame) {
        throw new ProtocolError(`yamux DATA frame of ${length} bytes exceeds the ${this.maxDataFrame}-byte receive window ceiling; connection closed`)
      }
      this.#bodyLeft = length
    }
  }

  #opened (): void {
    const now = this.#now()
    if (now - this.#windowStart >= this.windowMs) { this.#windowStart = now; this.#opens = 0 }
    if (++this.#opens > this.maxStreamOpens) {
      throw new ProtocolError(`peer opened more than ${this.maxStreamOpens} streams within ${this.windowMs} ms; connection closed`)
    }
  }
}

const violations = new WeakMap<object, ProtocolError>()

/** The guard's reason for closing the connection of `muxer` (`connection.muxer`), if it did. */
export function guardViolation (muxer: unknown): ProtocolError | undefined {
  return typeof muxer === 'object' && muxer !== null ? violations.get(muxer) : undefined
}

interface ChunkList { subarray: () => Uint8Array, byteLength: number, [Symbol.iterator]: () => Iterator<Uint8Array> }

/**
 * `yamux(init)` whose muxers check every DATA frame header with a
 * {@link YamuxFrameGuard} before yamux buffers the frame.
 */
export function guardedYamux (init: YamuxMuxerInit & YamuxGuardLimits): () => StreamMuxerFactory {
  const { maxDataFrame, maxStreamOpens, windowMs, ...yamuxInit } = init
  const limits: YamuxGuardLimits = { maxDataFrame, ...(maxStreamOpens !== undefined && { maxStreamOpens }), ...(windowMs !== undefined && { windowMs }) }
  const inner = yamux(yamuxInit)
  return () => {
    const factory: StreamMuxerFactory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn): StreamMuxer => {
      const muxer = create(maConn) as StreamMuxer & { onData: (buf: Uint8Array | ChunkList) => void }
      const onData = muxer.onData.bind(muxer)
      const guard = new YamuxFrameGuard(limits)
      // the muxer base class calls this.onData(evt.data) and aborts the
      // connection when it throws
      muxer.onData = (buf) => {
        try {
          if (buf instanceof Uint8Array) guard.feed(buf)
          else for (const part of buf) guard.feed(part)
        } catch (err) {
          violations.set(muxer, err as ProtocolError)
          throw err
        }
        onData(buf)
      }
      return muxer
    }
    return factory
  }
}
