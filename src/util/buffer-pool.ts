/**
 * A small free-list of piece-sized buffers. A download moves ~1 MiB buffers
 * through at hundreds of MB/s; allocating each afresh leaves tens of MB of
 * garbage waiting for the collector (peak RSS) and costs collector time.
 * Pieces are taken from here by whoever fills them (the HTTP origin reader,
 * the store's private copies) and given back by the store once their bytes
 * are written.
 *
 * Rules that keep reuse safe: only a buffer that owns its whole ArrayBuffer
 * is kept; a buffer is given back only by the last holder, after its last
 * use; giving back a buffer already in the pool is ignored; the pool holds
 * at most `maxBytes` and lets the rest go to the collector.
 */

/** Bytes a pool keeps at most. @default 32 MiB */
export const DEFAULT_POOL_BYTES = 32 * 1024 * 1024

export class BufferPool {
  readonly maxBytes: number
  readonly #free = new Map<number, Buffer[]>()
  readonly #inPool = new WeakSet<ArrayBuffer>()
  #bytes = 0

  constructor (maxBytes = DEFAULT_POOL_BYTES) {
    this.maxBytes = maxBytes
  }

  /** Bytes held for reuse now. */
  get bytes (): number { return this.#bytes }

  /** A buffer of exactly `size` bytes with unspecified contents, owning its ArrayBuffer. */
  take (size: number): Buffer {
    const list = this.#free.get(size)
    const buf = list?.pop()
    if (buf === undefined) return Buffer.allocUnsafeSlow(size)
    this.#inPool.delete(buf.buffer as ArrayBuffer)
    this.#bytes -= size
    return buf
  }

  /** Hand a buffer back for reuse; the caller must hold the last reference to it. */
  give (bytes: Uint8Array): void {
    const ab = bytes.buffer
    const size = bytes.byteLength
    if (!(ab instanceof ArrayBuffer) || bytes.byteOffset !== 0 || ab.byteLength !== size || size === 0) return
    if (this.#inPool.has(ab) || this.#bytes + size > this.maxBytes) return
    this.#inPool.add(ab)
    this.#bytes += size
    let list = this.#free.get(size)
    if (list === undefined) { list = []; this.#free.set(size, list) }
    list.push(Buffer.from(ab, 0, size))
  }
}

let shared: BufferPool | undefined

/** The process-wide pool for piece buffers. */
export function sharedBufferPool (): BufferPool {
  shared ??= new BufferPool()
  return shared
}
