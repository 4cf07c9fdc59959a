/**
 * The download scheduler without a disk: an in-memory store that accepts
 * every piece at once (the scheduler's part is under test, not the hash),
 * and a run helper that keeps the test process up meanwhile.
 */
import { Downloader, type StoreLike } from '../../src/swarm/download.js'
import { Bitfield } from '../../src/util/bitfield.js'
import { testManifest } from './origin-fixtures.js'

export function memoryStore (pieces: number, pieceSize: number): StoreLike {
  const manifest = testManifest(pieces * pieceSize, pieceSize)
  const have = new Bitfield(pieces)
  return {
    manifest,
    have,
    get complete () { return have.full },
    put: async (index, _bytes, _signal, opts) => {
      const duplicate = have.get(index)
      opts?.onWritten?.()
      have.set(index)
      return { ok: true, duplicate }
    }
  }
}

/** The scheduler's own timers are unref'd (a real node has sockets open); keep the test process up meanwhile. */
export async function runDownload (d: Downloader): Promise<ReturnType<Downloader['stats']>> {
  const alive = setInterval(() => {}, 1000)
  try { return await d.run(AbortSignal.timeout(10_000)) } finally { clearInterval(alive) }
}
