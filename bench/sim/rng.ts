/**
 * A small seeded PRNG (sfc32, seeded through splitmix32) so a run is
 * reproducible from one integer seed. Every random choice of the simulation,
 * including the jitter handed to the real OriginCoordinator and the random
 * start of the real PiecePicker, comes from one of these.
 */
export type Random = () => number

function splitmix32 (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** A generator of floats in [0, 1) from `seed`. */
export function seeded (seed: number): Random {
  const sm = splitmix32(seed)
  let a = sm(); let b = sm(); let c = sm(); let d = sm()
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t / 4294967296
  }
}

/** A fresh generator derived from `r` (independent streams per node). */
export function fork (r: Random): Random { return seeded(Math.floor(r() * 4294967296)) }

/** `k` distinct indices of [0, n) other than `except`, uniformly (k ≥ n-1 gives all). */
export function sample (r: Random, n: number, k: number, except: number): number[] {
  if (k >= n - 1) {
    const all: number[] = []
    for (let i = 0; i < n; i++) if (i !== except) all.push(i)
    shuffle(r, all)
    return all
  }
  const out = new Set<number>()
  while (out.size < k) {
    const i = Math.floor(r() * n)
    if (i !== except) out.add(i)
  }
  return [...out]
}

export function shuffle<T> (r: Random, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    const x = a[i]; a[i] = a[j]; a[j] = x
  }
  return a
}
