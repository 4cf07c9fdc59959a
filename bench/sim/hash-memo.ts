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
/** first update (a peer id) → rest of the input (":" + block) → digest */
const cache = new Map<string, Map<string, Buffer>>()
let cached = 0
const MAX_CACHE = 4_000_000

/** Digests asked for (calls) and computed for real (misses) since install. */
export const hashStats = { calls: 0, misses: 0 }

class MemoHash {
  #head: string | undefined
  #rest = ''
  #real: import('node:crypto').Hash | undefined

  update (data: unknown, enc?: unknown): this {
    if (this.#real === undefined && typeof data === 'string' && enc === undefined) {
      if (this.#head === undefined) this.#head = data; else this.#rest += data
      return this
    }
    if (this.#real === undefined) { this.#real = realCreateHash('sha256'); this.#real.update((this.#head ?? '') + this.#rest) }
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
    const head = this.#head ?? ''
    let m = cache.get(head)
    if (m === undefined) { m = new Map(); cache.set(head, m) }
    let d = m.get(this.#rest)
    if (d === undefined) {
      hashStats.misses++
      d = realCreateHash('sha256').update(head + this.#rest).digest()
      if (++cached > MAX_CACHE) { cache.clear(); cached = 0 }
      m.set(this.#rest, d)
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
