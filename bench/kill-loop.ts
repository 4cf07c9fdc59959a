/**
 * THREATS C1/C6/T6 long run: `kill -9` a writer process (a PieceStore putting
 * pieces in random order with random checkpoint settings, then finalizing —
 * test/store/fixtures/writer.ts) at random moments, at least `--kills` times,
 * and after every round audit what survived:
 *
 * - the state file is absent or whole (C6: never torn);
 * - every piece the persisted map claims re-hashes correctly, read straight
 *   from the data file (C1);
 * - no piece the writer announced as durable is missing from the map or lost
 *   on reopen (T6: lost progress never reaches announced pieces);
 * - the output path is absent or holds the verified file, never a partial one.
 *
 *   node dist/bench/kill-loop.js [--kills 100] [--pieces 96] [--piece-size 16384]
 *
 * The regular suite runs a shorter loop (test/store/crash.test.ts, ≥ 20 kills).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PieceStore } from '../src/store/index.js'
import { decodeState } from '../src/store/state-codec.js'
import { content, makeManifest, piece, sha256 } from '../test/store/fixture.js'
import { runKilledWriter } from '../test/store/kill-writer.js'
import { cliArgs } from './lib/args.js'

const args = cliArgs('node dist/bench/kill-loop.js [--kills N]\nkill -9 loop with a full audit of the persisted state after every round.', {
  kills: { type: 'string', default: '100', help: 'minimum SIGKILLs' },
  pieces: { type: 'string', default: '96', help: 'pieces of the test file' },
  'piece-size': { type: 'string', default: '16384', help: 'piece size in bytes' }
})
const minKills = args.num('kills')
const P = args.num('piece-size')
const PIECES = args.num('pieces')

const root = await mkdtemp(join(tmpdir(), 'doswarm-kill-loop-'))
const problems: string[] = []
let kills = 0
let rounds = 0
let claimsAudited = 0
let completions = 0
const t0 = performance.now()
try {
  const data = content(PIECES * P - 333)
  const source = join(root, 'source.bin')
  await writeFile(source, data)
  const m = makeManifest(data, P)
  let cycle = 0
  while (kills < minKills) {
    // a fresh cache and output each cycle, so downloads are killed at every stage again
    cycle++
    const cacheDir = join(root, `cache-${cycle}`)
    const outDir = join(root, `out-${cycle}`)
    await mkdir(outDir, { recursive: true })
    const out = join(outDir, 'file.bin')
    const dir = join(cacheDir, m.contentId)
    const announced = new Set<number>()
    let complete = false
    while (!complete && kills < minKills + 1000) {
      rounds++
      const run = await runKilledWriter([cacheDir, source, out, String(P)], 60)
      if (run.killed) kills++
      for (const i of run.durable) announced.add(i)
      const stateBytes = await readFile(join(dir, 'state')).catch(() => undefined)
      if (stateBytes !== undefined) {
        const state = decodeState(new Uint8Array(stateBytes))
        if ('error' in state) { problems.push(`round ${rounds}: torn state file (${state.error})`); continue }
        const onDisk = new Uint8Array(await readFile(join(dir, 'data')))
        for (let i = 0; i < PIECES; i++) {
          if (!state.done.get(i)) continue
          claimsAudited++
          if (Buffer.compare(sha256(piece(onDisk, m, i)), m.pieceHashes[i] ?? new Uint8Array()) !== 0) problems.push(`round ${rounds}: claimed piece ${i} is wrong on disk`)
        }
        for (const i of announced) if (!state.done.get(i)) problems.push(`round ${rounds}: announced piece ${i} missing from the map`)
      } else if (announced.size > 0) {
        problems.push(`round ${rounds}: state file gone after ${announced.size} pieces were announced`)
      }
      const delivered = await readFile(out).catch(() => undefined)
      if (delivered !== undefined && Buffer.compare(delivered, data) !== 0) problems.push(`round ${rounds}: partial or wrong output`)
      const store = await PieceStore.open({ cacheDir, manifest: m })
      for (const i of announced) if (!store.have.get(i)) problems.push(`round ${rounds}: announced piece ${i} lost on reopen`)
      complete = store.complete && delivered !== undefined
      await store.close()
    }
    if (complete) completions++
    await rm(cacheDir, { recursive: true, force: true })
    await rm(outDir, { recursive: true, force: true })
  }
} finally {
  await rm(root, { recursive: true, force: true })
}
const s = ((performance.now() - t0) / 1000).toFixed(0)
console.log(`kill-loop: ${kills} SIGKILLs in ${rounds} rounds (${completions} downloads completed through the kills), ${claimsAudited} claimed pieces re-hashed, ${problems.length} problems, ${s} s`)
for (const p of problems.slice(0, 20)) console.log(`  ${p}`)
process.exitCode = problems.length === 0 ? 0 : 1
