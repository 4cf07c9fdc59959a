/**
 * Asks V8 for a young-generation collection after every few MiB of network
 * input, so the buffers that input left behind are freed while they are few.
 *
 * Why: every socket read allocates a fresh buffer of up to 64 KiB, and
 * `node:http` hands each body chunk over as a copy of its own. Both are
 * garbage moments later, but they live outside the JavaScript heap: a 64 KiB
 * chunk costs the young generation a few hundred bytes, so V8 collects only
 * when its external-memory limit (~64 MB above the last collection) is hit.
 * In a `get --http-only` that was ~40 MB of dead chunks at the peak —
 * a quarter of the process (docs/benchmarks.md, RSS). A minor collection is
 * cheap (the live young set of a download is small) and frees them.
 *
 * The collector comes from V8's `gc` extension, switched on for one fresh
 * context and off again, so no script sees a global `gc`. Where the runtime
 * refuses, the nudge does nothing and memory is merely as before.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Bytes of network input between two nudges. @default 4 MiB */
export const DEFAULT_GC_NUDGE_BYTES = 4 * 1024 * 1024

/** A collector: runs a young-generation (minor) collection now. */
export type MinorCollector = () => void

/** V8's minor collection, or undefined where the runtime does not offer it. */
export function v8MinorCollector (): MinorCollector | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    if (typeof gc !== 'function') return undefined
    return () => { (gc as (o: { type: 'minor' }) => void)({ type: 'minor' }) }
  } catch {
    return undefined
  } finally {
    try { setFlagsFromString('--no-expose-gc') } catch {}
  }
}

export interface GcNudgeInit {
  /** Bytes between collections. @default DEFAULT_GC_NUDGE_BYTES */
  everyBytes?: number
  /** @default {@link v8MinorCollector}, looked up on the first nudge */
  collect?: MinorCollector
}

export class GcNudge {
  readonly everyBytes: number
  #collect: MinorCollector | undefined
  #looked = false
  #since = 0
  #collections = 0

  constructor (init: GcNudgeInit = {}) {
    const every = init.everyBytes ?? DEFAULT_GC_NUDGE_BYTES
    if (!Number.isSafeInteger(every) || every < 1) throw new RangeError(`everyBytes must be a positive integer, got ${every}`)
    this.everyBytes = every
    if (init.collect !== undefined) {
      this.#collect = init.collect
      this.#looked = true
    }
  }

  /** Collections asked for so far. */
  get collections (): number { return this.#collections }

  /** `n` bytes of input arrived (and became garbage, or soon will). */
  bytes (n: number): void {
    this.#since += n
    if (this.#since < this.everyBytes) return
    this.#since = 0
    if (!this.#looked) {
      this.#looked = true
      this.#collect = v8MinorCollector()
    }
    if (this.#collect === undefined) return
    this.#collections++
    this.#collect()
  }
}

let shared: GcNudge | undefined

/** The process-wide nudge: the garbage it reclaims is the whole process's. */
export function sharedGcNudge (): GcNudge {
  shared ??= new GcNudge()
  return shared
}
