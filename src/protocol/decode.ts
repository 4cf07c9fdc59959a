/**
 * Incremental frame decoder for `/doswarm/swarm/1.0.0`. Pure: bytes in,
 * frames out, no I/O. Input may be split at any byte boundary.
 *
 * Memory: the decoder keeps at most one partial header (≤ maxHeader bytes)
 * or one partial payload (≤ maxPayload bytes, or a HELLO bitfield of ≤
 * MAX_BITFIELD_LENGTH bytes), allocated only after the length that sizes it
 * has been checked. A payload that lies inside one pushed chunk is returned as
 * a view of that chunk (no copy); one that spans chunks is copied once.
 */
import { ProtocolError, StreamTruncatedError, UsageError } from '../errors.js'
import { MAX_HEADER_LENGTH, MAX_PAYLOAD_LENGTH } from './constants.js'
import { checkBitfield, type Frame, type FrameHeader } from './message.js'
import { Header } from './messages.js'
import { fromHeader } from './wire.js'

export interface FrameDecoderInit {
  /**
   * Largest PIECE payload accepted: the content's piece size. A responder that
   * does not know the content yet may start with {@link MAX_PAYLOAD_LENGTH}
   * and lower {@link FrameDecoder.maxPayload} once the HELLO has named it.
   */
  maxPayload: number
  /**
   * Largest header accepted, checked before it is buffered.
   *
   * @default MAX_HEADER_LENGTH (4096)
   */
  maxHeader?: number
  /**
   * Allocates the buffer for a payload that arrives in more than one chunk
   * (a piece buffer pool, say); it must return exactly `size` bytes, contents
   * unspecified. Frames whose payload the decoder assembled this way are
   * marked {@link Frame.owned}.
   *
   * @default `new Uint8Array(size)`
   */
  alloc?: (size: number) => Uint8Array
  /**
   * Called with each message as soon as its header is decoded and checked,
   * before any of its payload is buffered. Throw {@link ProtocolError} to
   * reject it early, e.g. `h => validateHeader(h, ctx)` stops a PIECE of the
   * wrong length, or one nobody requested, before the piece is read.
   * Anything else it throws fails the decoder as a ProtocolError too.
   */
  onHeader?: (header: FrameHeader) => void
}

/**
 * Bytes as several chunks, e.g. a `Uint8ArrayList` (libp2p v3 streams yield
 * uint8arraylist@3 lists; typed structurally so any major version fits).
 */
export interface ByteChunks extends Iterable<Uint8Array> {
  readonly byteLength: number
}

const LENGTH = 0
const HEADER = 1
const PAYLOAD = 2

const EMPTY = new Uint8Array(0)

function fail (message: string): never {
  throw new ProtocolError(message)
}

function checkLimit (value: unknown, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new UsageError(`${what} must be an integer in ${min}..${max}, got ${String(value)}`)
  }
  return value as number
}

export class FrameDecoder {
  readonly maxHeader: number
  readonly #onHeader?: (header: FrameHeader) => void
  readonly #alloc: (size: number) => Uint8Array
  #maxPayload: number
  #state = LENGTH
  #pushed = 0
  #lenValue = 0
  #lenBytes = 0
  #headerLength = 0
  #header?: Uint8Array
  #headerFilled = 0
  #pending?: FrameHeader
  #payloadLength = 0
  #payload?: Uint8Array
  #payloadFilled = 0
  #error?: ProtocolError

  constructor (init: FrameDecoderInit) {
    this.#maxPayload = checkLimit(init.maxPayload, 0, MAX_PAYLOAD_LENGTH, 'maxPayload')
    this.maxHeader = checkLimit(init.maxHeader ?? MAX_HEADER_LENGTH, 1, MAX_HEADER_LENGTH, 'maxHeader')
    this.#onHeader = init.onHeader
    this.#alloc = init.alloc ?? (size => new Uint8Array(size))
  }

  /** Largest PIECE payload accepted from the next header on. */
  get maxPayload (): number { return this.#maxPayload }
  set maxPayload (value: number) { this.#maxPayload = checkLimit(value, 0, MAX_PAYLOAD_LENGTH, 'maxPayload') }

  /** Bytes pushed so far, complete frames or not (a peer in the middle of a large frame is still talking). */
  get bytesPushed (): number { return this.#pushed }

  /** Bytes of the current, incomplete frame held by the decoder. */
  get bufferedBytes (): number { return this.#lenBytes + this.#headerFilled + this.#payloadFilled }

  /** True between frames: nothing of a next frame has arrived. */
  get idle (): boolean { return this.#state === LENGTH && this.#lenBytes === 0 }

  /**
   * Feed bytes; returns the frames they complete, in order. Throws
   * {@link ProtocolError} on the first violation; the decoder then stays
   * failed (every later call throws the same error) and frames completed
   * earlier in the same call are dropped — the stream must be reset anyway.
   * Callers must not modify a chunk after pushing it: returned payloads may
   * be views of it.
   */
  push (chunk: Uint8Array | ByteChunks): Frame[] {
    if (this.#error !== undefined) throw this.#error
    const frames: Frame[] = []
    try {
      if (chunk instanceof Uint8Array) this.#feed(chunk, frames)
      else for (const buf of chunk) this.#feed(buf, frames)
    } catch (err) {
      this.#error = err instanceof ProtocolError ? err : new ProtocolError(`frame decoder: ${String(err)}`)
      throw this.#error
    }
    return frames
  }

  /**
   * The remote closed its side: throws {@link StreamTruncatedError} if it
   * stopped inside a frame (a disconnect, not a violation: a graceful
   * connection close cuts streams wherever they stand), or the decoder's
   * earlier {@link ProtocolError}.
   */
  end (): void {
    if (this.#error !== undefined) throw this.#error
    if (!this.idle) {
      throw new StreamTruncatedError(`stream ended inside a frame (${this.bufferedBytes} bytes buffered)`)
    }
  }

  #feed (buf: Uint8Array, frames: Frame[]): void {
    this.#pushed += buf.byteLength
    let pos = 0
    while (pos < buf.length) {
      if (this.#state === LENGTH) {
        pos = this.#readLength(buf, pos)
      } else if (this.#state === HEADER) {
        const want = this.#headerLength - this.#headerFilled
        const take = Math.min(want, buf.length - pos)
        if (this.#header === undefined && take === want) {
          this.#headerDone(buf.subarray(pos, pos + take), frames)
        } else {
          this.#header ??= new Uint8Array(this.#headerLength)
          this.#header.set(buf.subarray(pos, pos + take), this.#headerFilled)
          this.#headerFilled += take
          if (this.#headerFilled === this.#headerLength) {
            const header = this.#header
            this.#header = undefined
            this.#headerFilled = 0
            this.#headerDone(header, frames)
          }
        }
        pos += take
      } else {
        const want = this.#payloadLength - this.#payloadFilled
        const take = Math.min(want, buf.length - pos)
        if (this.#payload === undefined && take === want) {
          this.#complete(buf.subarray(pos, pos + take), frames, false)
        } else {
          this.#payload ??= this.#newPayload(this.#payloadLength)
          this.#payload.set(buf.subarray(pos, pos + take), this.#payloadFilled)
          this.#payloadFilled += take
          if (this.#payloadFilled === this.#payloadLength) {
            const payload = this.#payload
            this.#payload = undefined
            this.#payloadFilled = 0
            this.#complete(payload, frames, true)
          }
        }
        pos += take
      }
    }
  }

  /** Consume length-prefix bytes from `pos`; rejects as soon as the prefix can only exceed the cap. */
  #readLength (buf: Uint8Array, pos: number): number {
    while (pos < buf.length) {
      const b = buf[pos++]
      if (b === 0 && this.#lenBytes > 0) fail('header length is not a minimal varint')
      this.#lenValue += (b & 0x7f) * 2 ** (7 * this.#lenBytes)
      this.#lenBytes++
      if (b >= 0x80) {
        // a minimal varint with another byte to come is at least 128^lenBytes
        if (0x80 ** this.#lenBytes > this.maxHeader) fail(`header length prefix exceeds ${this.maxHeader}`)
        continue
      }
      const length = this.#lenValue
      this.#lenValue = 0
      this.#lenBytes = 0
      if (length === 0) fail('empty header')
      if (length > this.maxHeader) fail(`header length ${length} exceeds ${this.maxHeader}`)
      this.#headerLength = length
      this.#state = HEADER
      break
    }
    return pos
  }

  #headerDone (bytes: Uint8Array, frames: Frame[]): void {
    let header: Header
    try {
      header = Header.decode(bytes)
    } catch (err) {
      fail(`malformed header: ${(err as Error)?.message ?? String(err)}`)
    }
    const { pending, payloadLength } = fromHeader(header, this.#maxPayload)
    this.#onHeader?.(pending)
    if (payloadLength === 0) {
      this.#state = LENGTH
      this.#emit(pending, undefined, frames)
    } else {
      this.#pending = pending
      this.#payloadLength = payloadLength
      this.#state = PAYLOAD
    }
  }

  #newPayload (size: number): Uint8Array {
    const buf = this.#alloc(size)
    if (buf.byteLength !== size) throw new Error(`payload allocator returned ${buf.byteLength} bytes for ${size}`)
    return buf
  }

  /** `owned`: the payload is a buffer the decoder allocated, not a view of an input chunk. */
  #complete (payload: Uint8Array, frames: Frame[], owned: boolean): void {
    const pending = this.#pending as FrameHeader
    this.#pending = undefined
    this.#payloadLength = 0
    this.#state = LENGTH
    this.#emit(pending, payload, frames, owned)
  }

  #emit (pending: FrameHeader, payload: Uint8Array | undefined, frames: Frame[], owned = false): void {
    if (pending.type === 'HELLO') {
      const bitfield = payload ?? EMPTY
      checkBitfield(bitfield, pending.pieceCount)
      frames.push({ message: { ...pending, bitfield } })
    } else if (payload !== undefined) {
      frames.push(owned ? { message: pending, payload, owned: true } : { message: pending, payload })
    } else {
      frames.push({ message: pending })
    }
  }
}
