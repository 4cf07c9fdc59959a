/**
 * A fixed-length bit set, most significant bit first within each byte
 * (bit i lives in byte i >> 3 under mask 0x80 >> (i & 7)) — the layout of the
 * wire chunk map and of the store's persisted map.
 */
export class Bitfield {
  readonly length: number
  readonly bytes: Uint8Array
  #count = 0

  constructor (length: number, bytes?: Uint8Array) {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad bitfield length ${length}`)
    this.length = length
    const size = Bitfield.byteLength(length)
    if (bytes !== undefined) {
      if (bytes.length !== size) throw new RangeError(`bitfield of ${length} bits needs ${size} bytes, got ${bytes.length}`)
      // spare bits after `length` must be zero so two encodings of a set never differ
      if (length % 8 !== 0 && size > 0 && (bytes[size - 1] & (0xff >> (length % 8))) !== 0) {
        throw new RangeError('bitfield has bits set past its length')
      }
      this.bytes = Uint8Array.from(bytes)
      for (let i = 0; i < length; i++) if (this.get(i)) this.#count++
    } else {
      this.bytes = new Uint8Array(size)
    }
  }

  static byteLength (bits: number): number { return (bits + 7) >> 3 }

  /** Number of bits set. */
  get count (): number { return this.#count }
  /** True when every bit is set. */
  get full (): boolean { return this.#count === this.length }

  get (i: number): boolean {
    if (i < 0 || i >= this.length) return false
    return (this.bytes[i >> 3] & (0x80 >> (i & 7))) !== 0
  }

  set (i: number, value = true): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`bit ${i} out of range 0..${this.length - 1}`)
    const mask = 0x80 >> (i & 7)
    const was = (this.bytes[i >> 3] & mask) !== 0
    if (was === value) return
    if (value) { this.bytes[i >> 3] |= mask; this.#count++ } else { this.bytes[i >> 3] &= ~mask; this.#count-- }
  }

  setAll (): void { for (let i = 0; i < this.length; i++) this.set(i) }

  /** Indices of the bits that are clear. */
  missing (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.length; i++) if (!this.get(i)) out.push(i)
    return out
  }

  clone (): Bitfield { return new Bitfield(this.length, this.bytes) }
}
