/**
 * Origin coalescing policy: turn the set of pieces wanted from the origin
 * into as few Range requests as possible, each small enough that a failure
 * wastes little and the scheduler can spread runs over parallel connections.
 */
import { UsageError } from '../errors.js'

/** A run of consecutive pieces, fetched with one Range request. */
export interface PieceRun {
  first: number
  count: number
}

/**
 * Coalesce piece indices into runs of consecutive indices, each at most
 * `maxPiecesPerRange` long, in ascending order. Order and duplicates in
 * `missing` do not matter. Pure.
 *
 * @throws {UsageError} when `maxPiecesPerRange` is not a positive integer or an index is not a non-negative integer
 */
export function planRanges (missing: readonly number[], maxPiecesPerRange: number): PieceRun[] {
  if (!Number.isSafeInteger(maxPiecesPerRange) || maxPiecesPerRange < 1) {
    throw new UsageError(`maxPiecesPerRange must be a positive integer, got ${maxPiecesPerRange}`)
  }
  let sorted = true
  for (let i = 0; i < missing.length; i++) {
    const v = missing[i] as number
    if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`piece index must be a non-negative integer, got ${v}`)
    if (i > 0 && v <= (missing[i - 1] as number)) sorted = false
  }
  // The scheduler normally passes ascending indices; only copy when it did not.
  const xs = sorted ? missing : [...missing].sort((a, b) => a - b)

  const runs: PieceRun[] = []
  let run: PieceRun | undefined
  for (const index of xs) {
    if (run !== undefined && index < run.first + run.count) continue // duplicate
    if (run !== undefined && index === run.first + run.count && run.count < maxPiecesPerRange) {
      run.count++
    } else {
      run = { first: index, count: 1 }
      runs.push(run)
    }
  }
  return runs
}
