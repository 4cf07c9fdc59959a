/**
 * THREATS C3 on a real full disk: the node's cache lives on a 1 MiB tmpfs
 * (mounted here when running as root; skipped with a message otherwise) and
 * a 4 MiB download is attempted. It must fail with DISK_FULL — promptly, not
 * spinning — with no output, and every piece the persisted map claims must be
 * on disk intact; after the tmpfs grows, the same download resumes and
 * delivers the verified file.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pieceCount } from '../../src/manifest/index.js'
import { createNode } from '../../src/node/node.js'
import { decodeState } from '../../src/store/state-codec.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'
import { sha256 } from '../store/fixture.js'

const root = typeof process.getuid === 'function' && process.getuid() === 0
const canMount = root && process.platform === 'linux'

test('C3 disk full on a real tmpfs: DISK_FULL, no output, no false claims; resumes when space returns', { timeout: 60_000, skip: canMount ? false : 'needs root on Linux to mount a small tmpfs' }, async (t) => {
  const fx = await swarmFixture({ size: 4 * 1024 * 1024 + 99, pieceSize: 64 * 1024 })
  const mnt = join(fx.dir, 'small')
  await mkdir(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt])
  t.after(async () => {
    try { execFileSync('umount', ['-l', mnt]) } catch {}
    await rmdir(mnt).catch(() => {})
    await fx.close()
  })
  const cacheDir = join(mnt, 'cache')
  const out = join(fx.dir, 'out.bin')
  let node = createNode({ httpOnly: true, cacheDir, stateDir: join(fx.dir, 'state') })
  const t0 = performance.now()
  await assert.rejects(node.download(fx.manifest, { out }).done, (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'DISK_FULL', String(err))
    return true
  })
  const failMs = performance.now() - t0
  await node.stop()
  assert.equal(existsSync(out), false, 'no output on failure')
  // every claim of the persisted map is a correct piece on disk
  const dir = join(cacheDir, fx.manifest.contentId)
  const stateBytes = await readFile(join(dir, 'state')).catch(() => undefined)
  let claimed = 0
  if (stateBytes !== undefined) {
    const state = decodeState(new Uint8Array(stateBytes))
    assert.ok(!('error' in state), 'state file intact')
    const data = new Uint8Array(await readFile(join(dir, 'data')))
    for (let i = 0; i < pieceCount(fx.manifest); i++) {
      if (!state.done.get(i)) continue
      claimed++
      const p = data.subarray(i * fx.manifest.pieceSize, Math.min(fx.manifest.size, (i + 1) * fx.manifest.pieceSize))
      assert.deepEqual(new Uint8Array(sha256(p)), fx.manifest.pieceHashes[i], `claimed piece ${i} is on disk intact`)
    }
  }
  const fetched = fx.origin.bytesSent
  // space returns
  execFileSync('mount', ['-o', 'remount,size=16m', mnt])
  node = createNode({ httpOnly: true, cacheDir, stateDir: join(fx.dir, 'state') })
  const result = await node.download(fx.manifest, { out })
  await node.stop()
  assert.ok(await fx.same(out))
  t.diagnostic(`1 MiB tmpfs: DISK_FULL after ${failMs.toFixed(0)} ms with ${claimed} pieces claimed (all intact); after the remount the download reused ${result.piecesReused} pieces and fetched ${result.bytesFromHttp} more bytes (${fetched} before)`)
})
