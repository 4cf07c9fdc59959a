/**
 * The embedding API: jobs with progress events, pause/resume, cancel through
 * AbortSignal, manifests from a path or an https URL with key pinning, and
 * idempotent start/stop.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:https'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode, spkiPin, type JobProgress } from '../../src/index.js'
import { swarmFixture } from '../helpers/swarm-fixture.js'

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url))

test('start and stop are idempotent; an HTTP-only node has no peer id', async () => {
  const node = createNode({ httpOnly: true, cacheDir: '/nonexistent-unused' })
  await Promise.all([node.start(), node.start()])
  assert.equal(node.peerId, undefined)
  await node.stop()
  await node.stop()
})

test('a job reports progress, pauses without fetching, resumes and completes', { timeout: 60_000 }, async () => {
  // a slow origin so the pause lands mid-download
  const fx = await swarmFixture({ size: 2 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 32 * 1024 }) })
  try {
    const node = createNode({ httpOnly: true, cacheDir: join(fx.dir, 'cache') })
    const seen: JobProgress[] = []
    const job = node.download(fx.manifest, { out: join(fx.dir, 'out.bin'), onProgress: p => { seen.push(p) } })
    const states: string[] = []
    job.addEventListener('state', evt => { states.push((evt as CustomEvent<string>).detail) })
    while ((job.progress?.have ?? 0) < 4) await new Promise(resolve => setTimeout(resolve, 20))
    job.pause()
    assert.equal(job.state, 'paused')
    await new Promise(resolve => setTimeout(resolve, 300)) // let in-flight requests wind down
    const sentWhilePaused = fx.origin.bytesSent
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(fx.origin.bytesSent, sentWhilePaused, 'nothing fetched while paused')
    job.resume()
    const result = await job
    assert.equal(job.state, 'complete')
    assert.ok(await fx.same(join(fx.dir, 'out.bin')))
    assert.equal(result.bytesFromHttp, fx.manifest.size, 'counters add up across the pause')
    assert.deepEqual(states, ['downloading', 'paused', 'downloading', 'complete'])
    assert.ok(seen.length > 4)
    assert.ok(seen.every((p, i) => i === 0 || p.have >= seen[i - 1].have))
    assert.equal(seen[seen.length - 1].have, seen[seen.length - 1].pieces)
    await node.stop()
  } finally { await fx.close() }
})

test('aborting the signal cancels: ABORTED, state cancelled, no output', { timeout: 60_000 }, async () => {
  const fx = await swarmFixture({ size: 2 * 1024 * 1024, pieceSize: 64 * 1024, behaviour: () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 16 * 1024 }) })
  try {
    const node = createNode({ httpOnly: true, cacheDir: join(fx.dir, 'cache') })
    const ac = new AbortController()
    const job = node.download(fx.manifest, { out: join(fx.dir, 'out.bin'), signal: ac.signal })
    while ((job.progress?.have ?? 0) < 2) await new Promise(resolve => setTimeout(resolve, 20))
    ac.abort()
    await assert.rejects(job.done, { code: 'ABORTED' })
    assert.equal(job.state, 'cancelled')
    assert.equal(existsSync(join(fx.dir, 'out.bin')), false)
    // cancelling a paused job works too
    const again = node.download(fx.manifest, { out: join(fx.dir, 'out2.bin') })
    again.pause()
    again.cancel()
    await assert.rejects(again.done, { code: 'ABORTED' })
    await node.stop()
  } finally { await fx.close() }
})

test('manifests load from a file path and from https with a pinned key; a wrong pin fails the fetch', { timeout: 30_000 }, async () => {
  const fx = await swarmFixture({ size: 300_000, pieceSize: 64 * 1024 })
  const cert = readFileSync(join(fixtures, 'tls-cert.pem'))
  const server = createServer({ cert, key: readFileSync(join(fixtures, 'tls-key.pem')) }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    res.end(Buffer.from(fx.manifest.bytes))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  try {
    const node = createNode({ httpOnly: true, cacheDir: join(fx.dir, 'cache'), trustedKeys: [fx.publicKey] })
    const path = join(fx.dir, 'm.dsw')
    await writeFile(path, fx.manifest.bytes)
    const fromPath = await node.download(path, { out: join(fx.dir, 'a.bin') })
    assert.equal(fromPath.contentId, fx.manifest.contentId)

    const pin = spkiPin(new X509Certificate(cert))
    assert.equal(pin, '83892ibLcwu1DoaSIQ3bTSAjNCCzE1UKsMecL+mmx8c=', 'same as openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256')
    const url = `https://127.0.0.1:${port}/m.dsw`
    const fromUrl = await node.download(url, { out: join(fx.dir, 'b.bin'), fetch: { ca: cert, pin } })
    assert.equal(fromUrl.contentId, fx.manifest.contentId)
    assert.ok(await fx.same(join(fx.dir, 'b.bin')))

    await assert.rejects(node.download(url, { out: join(fx.dir, 'c.bin'), fetch: { ca: cert, pin: Buffer.alloc(32).toString('base64') } }).done, { code: 'TLS_PIN_MISMATCH' })
    await assert.rejects(node.download(`http://127.0.0.1:${port}/m.dsw`, { out: join(fx.dir, 'c.bin') }).done, { code: 'USAGE' })
    // the signature check applies whatever the transport: an untrusted publisher fails
    const strict = createNode({ httpOnly: true, cacheDir: join(fx.dir, 'cache2') })
    await assert.rejects(strict.download(url, { out: join(fx.dir, 'c.bin'), fetch: { ca: cert, pin } }).done, { code: 'MANIFEST_UNTRUSTED_KEY' })
    assert.equal(existsSync(join(fx.dir, 'c.bin')), false)
    await node.stop()
    await strict.stop()
  } finally {
    server.close()
    await fx.close()
  }
})

test('the example download agent (examples/) runs against a real origin', { timeout: 60_000 }, async () => {
  const { spawn } = await import('node:child_process')
  const fx = await swarmFixture({ size: 400_000, pieceSize: 64 * 1024 })
  try {
    const manifest = join(fx.dir, 'm.dsw')
    await writeFile(manifest, fx.manifest.bytes)
    const agent = fileURLToPath(new URL('../../examples/download-agent.js', import.meta.url))
    const r = await new Promise<{ code: number | null, stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [agent, manifest, join(fx.dir, 'agent.bin'), fx.publicKey], { env: { ...process.env, DOSWARM_CACHE: join(fx.dir, 'agent-cache') }, stdio: ['ignore', 'pipe', 'ignore'] })
      let stdout = ''
      child.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
      child.on('error', reject)
      child.on('close', code => { resolve({ code, stdout }) })
    })
    assert.equal(r.code, 0)
    assert.match(r.stdout, /400000 bytes verified/)
    assert.ok(await fx.same(join(fx.dir, 'agent.bin')))
  } finally { await fx.close() }
})
