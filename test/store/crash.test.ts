import test from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PieceStore } from '../../src/store/index.js'
import { decodeState } from '../../src/store/state-codec.js'
import { content, makeManifest, piece, sha256, tempDir } from './fixture.js'
import { runKilledWriter } from './kill-writer.js'

const P = 16 * 1024
const PIECES = 48
const MIN_KILLS = 20

test('kill -9 at random moments: the persisted map never lies and no announced piece is lost (C1, C6, T6)', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t)
  const cacheDir = join(root, 'cache')
  const source = join(root, 'source.bin')
  const outDir = join(root, 'out')
  const out = join(outDir, 'file.bin')
  const { mkdir } = await import('node:fs/promises')
  await mkdir(outDir)
  const data = content(PIECES * P - 333)
  await writeFile(source, data)
  const m = makeManifest(data, P)
  const dir = join(cacheDir, m.contentId)

  const announced = new Set<number>()
  let kills = 0
  let complete = false
  for (let round = 0; round < 300 && (kills < MIN_KILLS || !complete); round++) {
    const run = await runKilledWriter([cacheDir, source, out, String(P)])
    if (run.killed) kills++
    for (const i of run.durable) announced.add(i)

    // C6: the state file is absent (killed before the first write) or whole
    const stateBytes = await readFile(join(dir, 'state')).catch(() => undefined)
    if (stateBytes !== undefined) {
      const state = decodeState(new Uint8Array(stateBytes))
      assert.ok(!('error' in state), `round ${round}: torn state file: ${'error' in state ? state.error : ''}`)
      // C1: every claimed piece re-hashes correctly, read straight from the data file
      const onDisk = new Uint8Array(await readFile(join(dir, 'data')))
      for (let i = 0; i < PIECES; i++) {
        if (!state.done.get(i)) continue
        assert.deepEqual(sha256(piece(onDisk, m, i)), m.pieceHashes[i], `round ${round}: claimed piece ${i} is wrong on disk`)
      }
      // T6: a piece announced as durable is never lost again
      for (const i of announced) assert.ok(state.done.get(i), `round ${round}: announced piece ${i} missing from the map`)
    } else {
      assert.equal(announced.size, 0)
    }
    // C1: the output is absent or the verified file, never partial
    const delivered = await readFile(out).catch(() => undefined)
    if (delivered !== undefined) assert.ok(new Uint8Array(delivered).every((b, i) => b === data[i]) && delivered.length === data.length, `round ${round}: partial output`)

    const store = await PieceStore.open({ cacheDir, manifest: m })
    for (const i of announced) assert.ok(store.have.get(i), `round ${round}: announced piece ${i} lost on reopen`)
    complete = store.complete
    await store.close()
  }
  assert.ok(kills >= MIN_KILLS, `only ${kills} kills`)
  assert.equal(complete, true)

  // finish: a fresh finalize still produces the exact file
  const store = await PieceStore.open({ cacheDir, manifest: m })
  for (const i of store.have.missing()) await store.put(i, piece(data, m, i))
  const final = join(outDir, 'final.bin')
  await store.finalize(final)
  await store.close()
  assert.deepEqual(new Uint8Array(await readFile(final)), data)
  // only stray temps of killed finalizes may sit beside the outputs, never a partial output
  for (const name of await readdir(outDir)) {
    assert.ok(name === 'file.bin' || name === 'final.bin' || /^\.file\.bin\.doswarm-[0-9a-f]+\.part$/.test(name), name)
  }
  t.diagnostic(`${kills} kills`)
})
