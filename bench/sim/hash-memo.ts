/**
 * Memoised SHA-256 for the simulation process only.
 *
 * The real OriginCoordinator ranks block owners by SHA-256(peerId ":" block)
 * (rendezvous hashing), recomputed whenever a node's view of the downloaders
 * changes. Each real node pays that on its own CPU; the simulator runs every
 * node on one core, where at ~5 µs a hash it would dominate the run. This
 * swaps `node:crypto`'s `createHash` (and, through
 * `module.syncBuiltinESMExports`, the live ESM binding that origin-coord.ts
 * imported) for one that caches the digest of short string inputs. The
 * function is pure, so the coordinator computes exactly what it would; only
 * the time to get there changes. Anything that is not sha256 over strings
 * falls through to the real implementation. `hashStats` counts the calls so
 * the report can say how much hashing the real code asked for.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module'

const require = createRequire(import.meta.url)
// eslint-disable-next-line @typescript-eslint/no-require-imports
const crypto = require('node:crypto') as typeof import('node:crypto')
const realCreateHash = crypto.createHash
/** up to three string updates (peer id, ":", block) → digest, one Map level per update */
type Level = Map<string, Level | Buffer>
const cache: Level = new Map()
let cached = 0
const MAX_CACHE = 4_000_000

/** Digests asked for (calls) and computed for real (misses) since install. */
export const hashStats = { calls: 0, misses: 0 }

class MemoHash {
  readonly #parts: string[] = []
  #real: import('node:crypto').Hash | undefined

  update (data: unknown, enc?: unknown): this {
    if (this.#real === undefined && typeof data === 'string' && enc === undefined && this.#parts.length < 3) {
      this.#parts.push(data)
      return this
    }
    if (this.#real === undefined) { this.#real = realCreateHash('sha256'); this.#real.update(this.#parts.join('')) }
    ;(this.#real.update as (d: unknown, e?: unknown) => unknown)(data, enc)
    return this
  }

  /**
   * The digest; the memoised Buffer itself is returned (no copy), which is
   * safe here because the only sha256-of-strings caller, the coordinator's
   * score(), only reads it.
   */
  digest (enc?: import('node:crypto').BinaryToTextEncoding): Buffer | string {
    hashStats.calls++
    if (this.#real !== undefined) { hashStats.misses++; return enc === undefined ? this.#real.digest() : this.#real.digest(enc) }
    const parts = this.#parts
    let level = cache
    // the part count is a level too, so ["ab"] and ["a", "b"] never share a slot
    const key = [String(parts.length), ...parts]
    for (let k = 0; k < key.length - 1; k++) {
      let next = level.get(key[k]) as Level | undefined
      if (next === undefined) { next = new Map(); level.set(key[k], next) }
      level = next
    }
    let d = level.get(key[key.length - 1]) as Buffer | undefined
    if (d === undefined) {
      hashStats.misses++
      d = realCreateHash('sha256').update(parts.join('')).digest()
      if (++cached > MAX_CACHE) { cache.clear(); cached = 0 }
      level.set(key[key.length - 1], d)
    }
    return enc === undefined ? d : d.toString(enc)
  }
}

let installed = false

/** Install the memo (idempotent). */
export function installHashMemo (): void {
  if (installed) return
  installed = true
  const patched = ((algorithm: string, options?: unknown) => {
    if (algorithm === 'sha256' && options === undefined) return new MemoHash()
    return (realCreateHash as (a: string, o?: unknown) => unknown)(algorithm, options)
  }) as typeof crypto.createHash
  crypto.createHash = patched
  syncBuiltinESMExports()
}
