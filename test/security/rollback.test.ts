/**
 * THREATS T7, rollback: versions of a publisher's content name never go
 * down, the floor is persisted (atomically) and survives a restart, and a
 * rolled-back manifest is refused with MANIFEST_ROLLBACK (CLI exit 3) before
 * a single byte is fetched from the origin.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js'
import { createManifest, privateKeyFromPem, generateKey } from '../../src/manifest/index.js'
import { createNode } from '../../src/node/node.js'
import { VERSIONS_FILE, VersionGuard, parseVersionsFile } from '../../src/node/versions.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'

test('T7 rollback: an older version is refused before any fetch, also after a restart; equal versions pass', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 256 * 1024 + 17, pieceSize: 64 * 1024 })
  try {
    const key = privateKeyFromPem(fx.privateKeyPem)
    const sign = async (version: number, createdAt = 1_700_000_000_000): Promise<Awaited<ReturnType<typeof createManifest>>> =>
      await createManifest({ file: fx.file, origins: [fx.origin.url], privateKey: key, pieceSize: 64 * 1024, name: 'tool.bin', version, createdAt })
    const v1 = await sign(1)
    const v3 = await sign(3)
    const v3again = await sign(3, 1_700_000_000_001)
    const cacheDir = join(fx.dir, 'cache')
    const trustedKeys = [fx.publicKey]

    let node = createNode({ httpOnly: true, cacheDir })
    await node.download(v3.bytes, { out: join(fx.dir, 'v3.bin'), trustedKeys })
    assert.ok(await fx.same(join(fx.dir, 'v3.bin')))
    const sent = fx.origin.bytesSent

    const rolled = node.download(v1.bytes, { out: join(fx.dir, 'v1.bin'), trustedKeys })
    await assert.rejects(rolled.done, (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'MANIFEST_ROLLBACK')
      assert.match((err as Error).message, /version 1 is older than version 3/)
      assert.equal(exitCodeFor(err), EXIT.MANIFEST)
      return true
    })
    assert.equal(rolled.state, 'failed')
    // a verified Manifest object (the daemon's path) is checked as well
    await assert.rejects(node.download(v1, { out: join(fx.dir, 'v1b.bin') }).done, { code: 'MANIFEST_ROLLBACK' })
    await node.stop()

    // restart: a fresh node on the same cache reads the persisted floor
    node = createNode({ httpOnly: true, cacheDir })
    await assert.rejects(node.download(v1.bytes, { out: join(fx.dir, 'v1.bin'), trustedKeys }).done, { code: 'MANIFEST_ROLLBACK' })
    assert.equal(fx.origin.bytesSent, sent, 'no byte fetched for a rolled-back manifest')
    assert.equal(existsSync(join(fx.dir, 'v1.bin')), false)
    // the same version re-signed (another createdAt, so another content id) is admitted
    assert.notEqual(v3again.contentId, v3.contentId)
    await node.download(v3again.bytes, { out: join(fx.dir, 'v3b.bin'), trustedKeys })
    // seeding is accepting too: an older version is refused before its file is read
    await assert.rejects(node.seed(v1.bytes, fx.file, { trustedKeys }), { code: 'MANIFEST_ROLLBACK' })
    await node.stop()

    // …and seeding a newer version first raises the floor for a later download
    const fresh = createNode({ httpOnly: true, cacheDir: join(fx.dir, 'cache-seed') })
    await fresh.seed(v3.bytes, fx.file, { trustedKeys })
    await assert.rejects(fresh.download(v1.bytes, { out: join(fx.dir, 'v1c.bin'), trustedKeys }).done, { code: 'MANIFEST_ROLLBACK' })
    await fresh.stop()

    // the floor is per publisher: another key's version 1 of the same name is its own line
    const other = generateKey()
    const foreign = await createManifest({ file: fx.file, origins: [fx.origin.url], privateKey: privateKeyFromPem(other.privateKeyPem), pieceSize: 64 * 1024, name: 'tool.bin', version: 1 })
    node = createNode({ httpOnly: true, cacheDir })
    await node.download(foreign.bytes, { out: join(fx.dir, 'foreign.bin'), trustedKeys: [other.publicKey] })
    await node.stop()

    const stateDir = join(cacheDir, 'node')
    const records = parseVersionsFile(await readFile(join(stateDir, VERSIONS_FILE), 'utf8'))
    assert.deepEqual(records.map(r => [r.publisher === fx.publicKey, r.name, r.version]).sort(), [[false, 'tool.bin', 1], [true, 'tool.bin', 3]].sort())
    // atomic replacement leaves no temp behind
    assert.deepEqual((await readdir(stateDir)).filter(n => n.endsWith('.tmp')), [])
  } finally { await fx.close() }
})

test('T7 rollback: a damaged version record fails closed (STORE_IO), it is never silently reset', async (t) => {
  const fx = await swarmFixture({ size: 64 * 1024, pieceSize: 64 * 1024 })
  t.after(async () => { await fx.close() })
  const stateDir = join(fx.dir, 'state')
  const guard = new VersionGuard(stateDir)
  await guard.admit({ publisher: 'p', name: 'n', version: 5, contentId: 'c5' })
  await assert.rejects(guard.admit({ publisher: 'p', name: 'n', version: 4, contentId: 'c4' }), { code: 'MANIFEST_ROLLBACK' })
  // concurrent admits of one process serialise: the floor ends at the maximum
  await Promise.all([6, 9, 7, 8].map(async v => await guard.admit({ publisher: 'p', name: 'n', version: v, contentId: `c${v}` }).catch(() => {})))
  assert.equal((await guard.highest('p', 'n'))?.version, 9)
  for (const bad of ['', '{', '[]', '{"format":2,"records":[]}', '{"format":1,"records":[{"publisher":"p","name":"n","version":-1,"contentId":"c"}]}',
    '{"format":1,"records":[{"publisher":"p","name":"n","version":1.5,"contentId":"c"}]}', '{"format":1,"records":[null]}']) {
    await writeFile(join(stateDir, VERSIONS_FILE), bad)
    await assert.rejects(guard.admit({ publisher: 'p', name: 'n', version: 1, contentId: 'c1' }), { code: 'STORE_IO' }, bad)
  }
})
