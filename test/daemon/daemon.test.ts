/**
 * The daemon end to end: token, jobs over the control API with a real
 * download, pause/resume, stats and /metrics, graceful restart that resumes
 * jobs, `doswarm get` through the daemon, and cache eviction.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { DaemonClient } from '../../src/daemon/client.js'
import { createNode } from '../../src/node/node.js'
import { createManifest, privateKeyFromPem } from '../../src/manifest/index.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'
import { startTestDaemon, until } from '../helpers/daemon-fixture.js'
import { runCli, type CliRun } from '../helpers/cli.js'

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64')

test('the control API refuses callers without the token and accepts the owner', { timeout: 30_000 }, async () => {
  const fx = await swarmFixture({ size: 100_000 })
  const { daemon, client } = await startTestDaemon(fx.dir)
  try {
    const tokenFile = join(fx.dir, 'state', 'api-token')
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600)
    assert.equal((await readFile(tokenFile, 'utf8')).trim(), daemon.token)
    for (const token of ['', 'wrong', daemon.token.slice(1) + 'x']) {
      await assert.rejects(new DaemonClient({ url: daemon.url, token }).stats(), { code: 'UNAUTHORIZED' })
    }
    const res = await fetch(`${daemon.url}/metrics`)
    assert.equal(res.status, 401)
    const stats = await client.stats()
    assert.equal(stats.peerId, daemon.node.peerId)
    assert.equal(stats.mode, 'lan')
    // the page itself carries no data and loads without the token
    const page = await fetch(`${daemon.url}/`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/)
  } finally {
    await daemon.stop()
    await fx.close()
  }
})

test('a job submitted over the API downloads, pauses, resumes and shows in stats and /metrics', { timeout: 60_000 }, async () => {
  // ~0.8 MB/s: the 2 MiB take ~2.6 s, so the pause (after 3 pieces) lands while a range is still in flight
  // even on a loaded machine — an HTTP-only job asks for the whole file in one range (from piece 0)
  const fx = await swarmFixture({ size: 2 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 4 * 1024 }) })
  const { daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only' })
  try {
    await assert.rejects(client.createJob({ manifest: b64(fx.manifest.bytes), out: 'relative/path' }), { code: 'USAGE' })
    const out = join(fx.dir, 'out.bin')
    let job = await client.createJob({ manifest: b64(fx.manifest.bytes), out })
    assert.equal(job.contentId, fx.manifest.contentId)
    await until(async () => (await client.job(job.id)).have >= 3)
    job = await client.act(job.id, 'pause')
    assert.equal(job.state, 'paused')
    await new Promise(resolve => setTimeout(resolve, 300))
    const frozen = fx.origin.bytesSent
    await new Promise(resolve => setTimeout(resolve, 400))
    assert.equal(fx.origin.bytesSent, frozen, 'a paused job fetches nothing')
    await client.act(job.id, 'resume')
    await until(async () => (await client.job(job.id)).state === 'complete')
    assert.ok(await fx.same(out))
    job = await client.job(job.id)
    assert.equal(job.bytesFromHttp, fx.manifest.size)
    // the pause cut the range requests in flight: counted as ended, with the part of the ranges never read
    assert.ok(job.httpCut.ended.requests >= 1)
    assert.ok(job.httpCut.ended.bytesUnread > 0)
    assert.equal(job.httpCut['claim-clash'].requests + job.httpCut['stall-idle'].requests + job.httpCut['stall-rate'].requests + job.httpCut.error.requests, 0)
    assert.equal(job.httpBytesDuplicate, 0)
    const stats = await client.stats()
    assert.equal(stats.month.bytesFromHttp, fx.manifest.size)
    assert.equal(stats.month.downloads, 1)
    assert.equal(stats.total.percentPeerCaching, 0)
    assert.ok(stats.days.some(d => d.bytesFromHttp === fx.manifest.size))
    const metrics = await client.call<unknown>('GET', '/metrics').catch(() => undefined)
    assert.equal(metrics, undefined, '/metrics is text, not JSON')
    const text = await (await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${daemon.token}` } })).text()
    assert.match(text, new RegExp(`doswarm_downloaded_bytes_total\\{source="http"\\} ${fx.manifest.size}`))
    assert.match(text, /doswarm_jobs\{state="complete"\} 1/)
    // a bad manifest is refused with its code
    const bad = Uint8Array.from(fx.manifest.bytes)
    bad[bad.length - 2] ^= 1
    await assert.rejects(client.createJob({ manifest: b64(bad), out: join(fx.dir, 'x') }), { code: 'MANIFEST_SIGNATURE_INVALID' })
    await assert.rejects(client.job('ffff'), { code: 'NOT_FOUND' })
  } finally {
    await daemon.stop()
    await fx.close()
  }
})

test('SIGTERM-style stop keeps unfinished jobs; the next start resumes them from the cache', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 2 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 16 * 1024 }) })
  let { daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only' })
  try {
    const out = join(fx.dir, 'out.bin')
    const job = await client.createJob({ manifest: b64(fx.manifest.bytes), out })
    await until(async () => (await client.job(job.id)).have >= 4)
    await daemon.stop()
    assert.equal(existsSync(out), false)
    const saved = JSON.parse(await readFile(join(fx.dir, 'state', 'jobs.json'), 'utf8')) as { jobs: Array<{ id: string, state: string }> }
    assert.equal(saved.jobs.find(j => j.id === job.id)?.state, 'downloading')
    const before = fx.origin.bytesSent;
    ({ daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only' }))
    await until(async () => (await client.job(job.id)).state === 'complete')
    assert.ok(await fx.same(out))
    assert.ok(fx.origin.bytesSent - before < fx.manifest.size, 'the restart fetched only what was missing')
  } finally {
    await daemon.stop()
    await fx.close()
  }
})

test('doswarm get uses the running daemon and says so; status prints jobs and totals', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 500_000, pieceSize: 64 * 1024 })
  const { daemon } = await startTestDaemon(fx.dir, { mode: 'http-only' })
  try {
    const manifest = join(fx.dir, 'm.dsw')
    await writeFile(manifest, fx.manifest.bytes)
    const env = { ...process.env, DOSWARM_STATE: join(fx.dir, 'state') }
    const run = async (args: string[]): Promise<CliRun> => await runCli(args, { env })
    const r = await run(['get', manifest, '--trust', fx.publicKey, '--out', join(fx.dir, 'via.bin'), '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /using the doswarm daemon at http:\/\/127\.0\.0\.1:\d+/)
    const j = JSON.parse(r.stdout.trim())
    assert.equal(j.ok, true)
    assert.equal(j.daemon, daemon.url)
    assert.ok(await fx.same(join(fx.dir, 'via.bin')))
    const s = await run(['status'])
    assert.equal(s.code, 0, s.stderr)
    assert.match(s.stdout, /activity monitor: http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64}/)
    assert.match(s.stdout, /complete/)
    const none = await run(['status', '--state', join(fx.dir, 'nowhere')])
    assert.equal(none.code, 4)
    assert.match(none.stderr, /no doswarm daemon is running/)
  } finally {
    await daemon.stop()
    await fx.close()
  }
})

test('eviction removes old or excess content but never pinned or in-use content', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 300_000, pieceSize: 64 * 1024 })
  const { daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only', cache: { maxSize: 1000 } })
  try {
    const job = await client.createJob({ manifest: b64(fx.manifest.bytes), out: join(fx.dir, 'a.bin') })
    await until(async () => (await client.job(job.id)).state === 'complete')
    assert.equal((await daemon.node.listCache()).length, 1)
    assert.deepEqual(await daemon.evict(), [fx.manifest.contentId], 'over the 1000-byte cap: evicted')
    assert.equal((await daemon.node.listCache()).length, 0)
    assert.ok(await fx.same(join(fx.dir, 'a.bin')), 'the delivered file is the user\'s, untouched')
  } finally {
    await daemon.stop()
  }
  const pinned = await startTestDaemon(fx.dir, { trust: [fx.publicKey], mode: 'http-only', cache: { maxSize: 1000, pinned: [fx.manifest.contentId] } })
  try {
    const job = await pinned.client.createJob({ manifest: b64(fx.manifest.bytes), out: join(fx.dir, 'b.bin') })
    await until(async () => (await pinned.client.job(job.id)).state === 'complete')
    assert.deepEqual(await pinned.daemon.evict(), [])
    assert.equal((await pinned.daemon.node.listCache()).length, 1)
  } finally {
    await pinned.daemon.stop()
    await fx.close()
  }
})

test('the control API can listen on a Unix socket instead of TCP', { timeout: 30_000 }, async () => {
  const fx = await swarmFixture({ size: 100_000 })
  const socket = join(fx.dir, 'api.sock')
  const { daemon } = await startTestDaemon(fx.dir, { mode: 'http-only', api: { socket } })
  try {
    assert.equal(daemon.url, `unix:${socket}`)
    const client = new DaemonClient({ url: daemon.url, token: daemon.token })
    assert.equal((await client.stats()).mode, 'http-only')
    await assert.rejects(new DaemonClient({ url: daemon.url, token: 'nope' }).jobs(), { code: 'UNAUTHORIZED' })
  } finally {
    await daemon.stop()
    await fx.close()
  }
})

test('stats count connections and distinct connected peers apart (two connections to one peer are one peer)', { timeout: 30_000 }, async () => {
  const fx = await swarmFixture({ size: 100_000 })
  const { daemon, client } = await startTestDaemon(fx.dir)
  const other = createNode({ cacheDir: join(fx.dir, 'other'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  try {
    assert.equal((await client.stats()).connectedPeers, 0)
    await other.start()
    const addr = multiaddr(daemon.node.multiaddrs[0] as string)
    const p2p = other.swarm?.node
    assert.ok(p2p !== undefined)
    // a second connection to the same peer, as when two nodes dial each other at once
    await p2p.dial(addr)
    await p2p.dial(addr, { force: true })
    await until(async () => (await client.stats()).connections >= 2)
    const stats = await client.stats()
    assert.equal(stats.connectedPeers, 1, `connections ${stats.connections}`)
  } finally {
    await other.stop()
    await daemon.stop()
    await fx.close()
  }
})

test('rollback floor in the daemon: an older version is refused at job creation (422), and every cached version is shared again after a restart', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 256 * 1024, pieceSize: 64 * 1024 })
  const v3 = await createManifest({ file: fx.file, origins: [fx.origin.url], privateKey: privateKeyFromPem(fx.privateKeyPem), pieceSize: 64 * 1024, version: 3 })
  let { daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey] })
  try {
    assert.equal(fx.manifest.version, 1)
    // version 1 first, then version 3: both complete in the cache
    for (const [m, name] of [[fx.manifest, 'v1.bin'], [v3, 'v3.bin']] as const) {
      const job = await client.createJob({ manifest: b64(m.bytes), out: join(fx.dir, name) })
      await until(async () => (await client.job(job.id)).state === 'complete')
    }
    const jobs = (await client.jobs()).length
    const res = await fetch(`${daemon.url}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ manifest: b64(fx.manifest.bytes), out: join(fx.dir, 'again.bin') }) })
    assert.equal(res.status, 422)
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'MANIFEST_ROLLBACK')
    assert.equal((await client.jobs()).length, jobs, 'no job was created for the rolled-back version')

    await daemon.stop();
    ({ daemon, client } = await startTestDaemon(fx.dir, { trust: [fx.publicKey] }))
    // the floor is 3 now; the cache still holds version 1 and shares it with peers still on it
    for (const m of [fx.manifest, v3]) assert.notEqual(daemon.node.swarm?.session(m.contentId), undefined, `version ${m.version} shared`)
  } finally {
    await daemon.stop()
    await fx.close()
  }
})
