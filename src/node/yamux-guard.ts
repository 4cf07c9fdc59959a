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
 *
 * yamux PINGs are counted the same way: each one costs us an encrypted pong
 * (~5000 Noise encryptions for one 60 KB write of the attacker), so more than
 * `maxPings` within `windowMs` closes the connection (R6).
 *
 * Last, it bounds what the connection queues for a peer that does not read
 * (THREATS R6). yamux answers every PING with a pong and writes it without
 * waiting for 'drain', and the Noise channel below it has no write-buffer
 * limit: a peer that sends pings and never reads grew a victim's RSS by
 * ~250 MiB in 20 s (bench/security.ts). After each batch of input the guard
 * checks the connection's write queue and closes the connection when it
 * holds more than `maxConnectionWriteBuffer` bytes or
 * `maxConnectionWriteChunks` chunks. Our own stream data respects 'drain', so
 * an honest connection's queue stays far below both.
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
/** yamux frame type PING. */
const TYPE_PING = 2
/** yamux SYN flag: the frame opens a new stream (or, on a PING, asks for a pong). */
const FLAG_SYN = 1

/** Limits of a {@link YamuxFrameGuard}. */
export interface YamuxGuardLimits {
  /** longest DATA frame accepted (the receive window ceiling) */
  maxDataFrame: number
  /** streams the remote may open within `windowMs` @default Infinity */
  maxStreamOpens?: number
  /** yamux PINGs (each costs us an encrypted pong) the remote may send within `windowMs` @default Infinity */
  maxPings?: number
  /** @default 10000 */
  windowMs?: number
  /**
   * bytes queued on the connection (below yamux) while the peer does not
   * read, checked whenever the peer sends something @default Infinity
   */
  maxConnectionWriteBuffer?: number
  /** the same, counted in queued chunks (each tiny pong is one) @default Infinity */
  maxConnectionWriteChunks?: number
}

/** Follows yamux frame boundaries across chunks and rejects oversized DATA frames. */
export class YamuxFrameGuard {
  readonly maxDataFrame: number
  readonly maxStreamOpens: number
  readonly maxPings: number
  readonly windowMs: number
  /** body bytes of the current DATA frame still to skip */
  #bodyLeft = 0
  readonly #header = new Uint8Array(YAMUX_HEADER_LENGTH)
  #headerFill = 0
  #windowStart = 0
  #opens = 0
  #pings = 0
  readonly #now: () => number

  constructor (limits: YamuxGuardLimits | number, now: () => number = () => performance.now()) {
    const l = typeof limits === 'number' ? { maxDataFrame: limits } : limits
    if (!Number.isSafeInteger(l.maxDataFrame) || l.maxDataFrame < 1) throw new RangeError('maxDataFrame must be a positive integer')
    this.maxDataFrame = l.maxDataFrame
    this.maxStreamOpens = l.maxStreamOpens ?? Infinity
    this.maxPings = l.maxPings ?? Infinity
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
      const syn = ((h[3] ?? 0) & FLAG_SYN) !== 0
      if ((h[1] === TYPE_DATA || h[1] === TYPE_WINDOW_UPDATE) && syn) this.#count('opens')
      if (h[1] === TYPE_PING && syn) this.#count('pings')
      if (h[1] !== TYPE_DATA) continue
      // big-endian uint32 without sign overflow
      const length = (h[8] ?? 0) * 2 ** 24 + ((h[9] ?? 0) << 16) + ((h[10] ?? 0) << 8) + (h[11] ?? 0)
      if (length > this.maxDataFrame) {
        throw new ProtocolError(`yamux DATA frame of ${length} bytes exceeds the ${this.maxDataFrame}-byte receive window ceiling; connection closed`)
      }
      this.#bodyLeft = length
    }
  }

  #count (what: 'opens' | 'pings'): void {
    const now = this.#now()
    if (now - this.#windowStart >= this.windowMs) { this.#windowStart = now; this.#opens = 0; this.#pings = 0 }
    if (what === 'opens' && ++this.#opens > this.maxStreamOpens) {
      throw new ProtocolError(`peer opened more than ${this.maxStreamOpens} streams within ${this.windowMs} ms; connection closed`)
    }
    if (what === 'pings' && ++this.#pings > this.maxPings) {
      throw new ProtocolError(`peer sent more than ${this.maxPings} yamux pings within ${this.windowMs} ms; connection closed`)
    }
  }
}

const violations = new WeakMap<object, ProtocolError>()

/** yamux stream state "Established" (`StreamState` of @chainsafe/libp2p-yamux 8.x). */
const STATE_ESTABLISHED = 3

/** The fields of a yamux 8.x stream that {@link lazyWindowUpdates} reads. */
interface YamuxStreamWindow {
  state: number
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: () => void
}

function isYamuxStreamWindow (s: unknown): s is YamuxStreamWindow {
  const w = s as Partial<YamuxStreamWindow> | null
  return typeof w === 'object' && w !== null && typeof w.sendWindowUpdate === 'function' &&
    typeof w.state === 'number' && typeof w.recvWindow === 'number' && typeof w.recvWindowCapacity === 'number'
}

/**
 * Make a yamux stream grant its receive window in halves. yamux 8.0.1 sends a
 * WINDOW_UPDATE after every DATA frame it receives, however small; the
 * sender then sends a frame the size of that update, so a stream keeps as
 * many frames in flight as it ever had. Measured on a 1 GiB seeder → leecher
 * transfer: ~2,600 updates per GiB, each an encryption and two socket writes
 * here and a read and a decryption at the sender; on the 100 Mbit/s LAN
 * emulation many more, each for a few KB. Like go-yamux, the stream now
 * grants credit only once at least half of its window is used up (or when it
 * must: SYN/ACK flags, resuming from a pause — yamux's own rules for those
 * are unchanged). The sender is never blocked: it still holds at least half a
 * window of credit whenever an update is held back. Streams without the
 * expected fields are left alone.
 */
export function lazyWindowUpdates (stream: unknown): void {
  if (!isYamuxStreamWindow(stream)) return
  const eager = stream.sendWindowUpdate.bind(stream)
  stream.sendWindowUpdate = () => {
    if (stream.state === STATE_ESTABLISHED && stream.recvWindowCapacity * 2 > stream.recvWindow) return
    eager()
  }
}

/** The guard's reason for closing the connection of `muxer` (`connection.muxer`), if it did. */
export function guardViolation (muxer: unknown): ProtocolError | undefined {
  return typeof muxer === 'object' && muxer !== null ? violations.get(muxer) : undefined
}

interface ChunkList { subarray: () => Uint8Array, byteLength: number, [Symbol.iterator]: () => Iterator<Uint8Array> }

/**
 * `yamux(init)` whose muxers run every input chunk through a
 * {@link YamuxFrameGuard} before yamux sees it, and check the connection's
 * write queue after yamux handled it.
 */
export function guardedYamux (init: YamuxMuxerInit & YamuxGuardLimits & {
  /** called once per connection the guard closes, with the stream yamux ran on (Noise's, wrapping the socket's) */
  onViolation?: (stream: unknown, err: ProtocolError) => void
}): () => StreamMuxerFactory {
  const { maxDataFrame, maxStreamOpens, maxPings, windowMs, maxConnectionWriteBuffer, maxConnectionWriteChunks, onViolation, ...yamuxInit } = init
  const maxQueued = maxConnectionWriteBuffer ?? Infinity
  const maxChunks = maxConnectionWriteChunks ?? Infinity
  const limits: YamuxGuardLimits = { maxDataFrame, ...(maxStreamOpens !== undefined && { maxStreamOpens }), ...(maxPings !== undefined && { maxPings }), ...(windowMs !== undefined && { windowMs }) }
  const inner = yamux(yamuxInit)
  return () => {
    const factory: StreamMuxerFactory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn): StreamMuxer => {
      const muxer = create(maConn) as StreamMuxer & { onData: (buf: Uint8Array | ChunkList) => void, _newStream?: (...args: unknown[]) => unknown }
      const onData = muxer.onData.bind(muxer)
      // every stream, ours and the remote's, is made here (yamux 8.x)
      const newStream = muxer._newStream?.bind(muxer)
      if (newStream !== undefined) {
        muxer._newStream = (...args) => {
          const stream = newStream(...args)
          lazyWindowUpdates(stream)
          return stream
        }
      }
      const guard = new YamuxFrameGuard(limits)
      const report = (err: ProtocolError): void => {
        if (violations.has(muxer)) return
        violations.set(muxer, err)
        try { onViolation?.(maConn, err) } catch {}
      }
      // the muxer base class calls this.onData(evt.data) and aborts the
      // connection when it throws
      muxer.onData = (buf) => {
        try {
          if (buf instanceof Uint8Array) guard.feed(buf)
          else for (const part of buf) guard.feed(part)
        } catch (err) {
          report(err as ProtocolError)
          throw err
        }
        onData(buf)
        // the replies (pongs, window updates) this input caused are queued now
        const queue = (maConn as unknown as { writeBuffer?: { byteLength: number, bufs?: unknown[] } }).writeBuffer
        if (queue !== undefined && (queue.byteLength > maxQueued || (queue.bufs?.length ?? 0) > maxChunks)) {
          const err = new ProtocolError(`peer does not read: ${queue.byteLength} bytes in ${queue.bufs?.length ?? 0} chunks queued on the connection; connection closed`)
          report(err)
          throw err
        }
      }
      return muxer
    }
    return factory
  }
}
