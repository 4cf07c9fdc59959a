/**
 * The doswarm command end to end, as a user runs it: real processes, a real
 * HTTP origin on 127.0.0.1, `--json` parsed, exit codes checked.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startOrigin, type Behaviour } from '../helpers/origin-server.js'
import { runCli, type CliRun } from '../helpers/cli.js'

const run = async (args: string[], opts: { killAfter?: () => boolean } = {}): Promise<CliRun> =>
  await runCli(args, opts.killAfter !== undefined ? { killWhen: opts.killAfter } : {})

const lastLine = (s: string): string => s.trim().split('\n').pop() ?? ''

async function setup (size = 3 * 1024 * 1024 + 5, behaviour?: (req: { range?: { start: number } }, ctx: { n: number }) => Behaviour | undefined): Promise<{ dir: string, data: Uint8Array, key: string, pub: string, manifest: string, origin: Awaited<ReturnType<typeof startOrigin>>, close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-cli-'))
  const data = randomBytes(size)
  await writeFile(join(dir, 'file.bin'), data)
  const origin = await startOrigin({ data, ...(behaviour !== undefined ? { behaviour } : {}) })
  const key = join(dir, 'pub.key')
  const kg = await run(['keygen', '--out', key])
  assert.equal(kg.code, 0, kg.stderr)
  const pub = lastLine(kg.stdout)
  const manifest = join(dir, 'file.dsw')
  const p = await run(['publish', join(dir, 'file.bin'), '--key', key, '--origin', origin.url, '--piece-size', '65536', '--out', manifest])
  assert.equal(p.code, 0, p.stderr)
  assert.match(lastLine(p.stdout), /^baga[a-z2-7]+$/)
  return { dir, data, key, pub, manifest, origin, close: async () => { await origin.close(); await rm(dir, { recursive: true, force: true }) } }
}

test('keygen → publish → get --json delivers the verified file', { timeout: 60_000 }, async () => {
  const s = await setup()
  try {
    assert.equal(((await stat(s.key)).mode & 0o777), 0o600)
    assert.match(s.pub, /^ed25519:[1-9A-HJ-NP-Za-km-z]+$/)
    const out = join(s.dir, 'got.bin')
    const r = await run(['get', s.manifest, '--trust', s.pub, '--out', out, '--cache', join(s.dir, 'cache'), '--http-only', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines.length, 1, 'exactly one JSON line on stdout')
    const j = JSON.parse(lines[0])
    assert.equal(j.ok, true)
    assert.equal(j.size, s.data.length)
    assert.equal(j.bytesFromHttp, s.data.length)
    // nothing cut, nothing fetched twice; every reason is reported
    assert.deepEqual(Object.keys(j.httpCut).sort(), ['claim-clash', 'ended', 'error', 'source-unusable', 'stall-idle', 'stall-rate'])
    for (const c of Object.values(j.httpCut as Record<string, unknown>)) assert.deepEqual(c, { requests: 0, bytesDiscarded: 0, bytesUnread: 0 })
    assert.equal(j.httpBytesDuplicate, 0)
    assert.equal(j.bytesFromPeers, 0)
    assert.equal(j.piecesRejected, 0)
    assert.equal(typeof j.durationMs, 'number')
    assert.deepEqual(await readFile(out), Buffer.from(s.data))
    // a second get with the same cache reuses every piece and fetches nothing
    const before = s.origin.bytesSent
    const again = await run(['get', s.manifest, '--trust', s.pub, '--out', join(s.dir, 'again.bin'), '--cache', join(s.dir, 'cache'), '--http-only', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(JSON.parse(lastLine(again.stdout)).piecesReused, Math.ceil(s.data.length / 65536))
    assert.equal(s.origin.bytesSent, before)
    // --trust also takes a file holding the key; the swarm mode (default) works with a loopback listen address
    await writeFile(join(s.dir, 'trusted.txt'), `# publisher\n${s.pub}\n`)
    const swarm = await run(['get', s.manifest, '--trust', join(s.dir, 'trusted.txt'), '--out', join(s.dir, 'swarm.bin'), '--cache', join(s.dir, 'cache2'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--json'])
    assert.equal(swarm.code, 0, swarm.stderr)
    assert.equal(JSON.parse(lastLine(swarm.stdout)).peersBanned, 0)
    assert.deepEqual(await readFile(join(s.dir, 'swarm.bin')), Buffer.from(s.data))
  } finally { await s.close() }
})

test('usage errors: one line on stderr, exit code 2, nothing written', { timeout: 60_000 }, async () => {
  const s = await setup(100_000)
  try {
    const cases: string[][] = [
      ['publish', join(s.dir, 'missing.bin'), '--key', s.key, '--origin', s.origin.url, '--out', join(s.dir, 'x.dsw')],
      ['publish', join(s.dir, 'file.bin'), '--key', join(s.dir, 'nokey'), '--origin', s.origin.url, '--out', join(s.dir, 'x.dsw')],
      ['publish', join(s.dir, 'file.bin'), '--key', join(s.dir, 'file.bin'), '--origin', s.origin.url, '--out', join(s.dir, 'x.dsw')],
      ['publish', join(s.dir, 'file.bin'), '--key', s.key, '--origin', 'ftp://example.invalid/f', '--out', join(s.dir, 'x.dsw')],
      ['publish', join(s.dir, 'file.bin'), '--key', s.key, '--origin', s.origin.url, '--piece-size', '1000', '--out', join(s.dir, 'x.dsw')],
      ['get', s.manifest, '--out', join(s.dir, 'o.bin')],
      ['get', s.manifest, '--trust', 'ed25519:nope', '--out', join(s.dir, 'o.bin')],
      ['get', s.manifest, '--trust', s.pub, '--out', join(s.dir, 'no-such-dir', 'o.bin'), '--http-only'],
      ['get', s.manifest, '--trust', s.pub, '--out', join(s.dir, 'o.bin'), '--peer', 'not-a-multiaddr', '--no-mdns'],
      ['keygen', '--out', s.key],
      ['frobnicate']
    ]
    for (const args of cases) {
      const r = await run(args)
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.code}: ${r.stderr}`)
      const lines = r.stderr.trim().split('\n')
      assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`)
      assert.match(lines[0], /^doswarm: .+ \[[A-Z_]+\]$/)
    }
    assert.equal(existsSync(join(s.dir, 'x.dsw')), false)
    assert.equal(existsSync(join(s.dir, 'o.bin')), false)
    const help = await run(['--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /doswarm get MANIFEST/)
  } finally { await s.close() }
})

test('rejected manifests exit 3 with the code in the JSON line; --out is never created', { timeout: 30_000 }, async () => {
  const s = await setup(100_000)
  try {
    const other = await run(['keygen', '--out', join(s.dir, 'other.key')])
    const out = join(s.dir, 'o.bin')
    const r = await run(['get', s.manifest, '--trust', lastLine(other.stdout), '--out', out, '--http-only', '--json'])
    assert.equal(r.code, 3)
    const j = JSON.parse(lastLine(r.stdout))
    assert.deepEqual([j.ok, j.error.code], [false, 'MANIFEST_UNTRUSTED_KEY'])
    const bytes = await readFile(s.manifest)
    bytes[bytes.length - 3] ^= 0x20
    await writeFile(join(s.dir, 'tampered.dsw'), bytes)
    const t = await run(['get', join(s.dir, 'tampered.dsw'), '--trust', s.pub, '--out', out, '--http-only', '--json'])
    assert.equal(t.code, 3)
    assert.equal(JSON.parse(lastLine(t.stdout)).error.code, 'MANIFEST_SIGNATURE_INVALID')
    assert.equal(existsSync(out), false)
    assert.equal(s.origin.requests, 0, 'nothing fetched for a rejected manifest')
  } finally { await s.close() }
})

test('an origin serving wrong bytes fails closed: exit 1, PIECE_UNAVAILABLE, no output', { timeout: 60_000 }, async () => {
  const s = await setup(600_000, req => req.range !== undefined && req.range.start <= 200_000 ? { kind: 'corrupt', offsets: [200_000] } : undefined)
  try {
    const out = join(s.dir, 'o.bin')
    const r = await run(['get', s.manifest, '--trust', s.pub, '--out', out, '--cache', join(s.dir, 'cache'), '--http-only', '--json'])
    assert.equal(r.code, 1, r.stderr)
    const j = JSON.parse(lastLine(r.stdout))
    assert.equal(j.error.code, 'PIECE_UNAVAILABLE')
    assert.match(j.error.message, /piece 3\b/)
    assert.equal(existsSync(out), false)
    assert.deepEqual((await readdir(s.dir)).filter(n => n.includes('.part')), [])
  } finally { await s.close() }
})

test('kill -9 during get, then the same get resumes from the cache', { timeout: 90_000 }, async () => {
  // a slow origin: every range trickles, so the kill lands mid-download
  const s = await setup(2 * 1024 * 1024, () => ({ kind: 'trickle', intervalMs: 5, bytesPerTick: 16 * 1024 }))
  try {
    const cache = join(s.dir, 'cache')
    const out = join(s.dir, 'o.bin')
    const args = ['get', s.manifest, '--trust', s.pub, '--out', out, '--cache', cache, '--http-only', '--json']
    // kill once some pieces are durable (a state file exists: the store writes it
    // at its first group commit), not merely once the origin has sent bytes — on a
    // loaded machine those can still sit in socket buffers
    const committed = (): boolean => existsSync(cache) && readdirSync(cache).some(d => existsSync(join(cache, d, 'state')))
    const killed = await run(args, { killAfter: () => s.origin.bytesSent > 700_000 && committed() })
    assert.equal(killed.signal, 'SIGKILL')
    assert.equal(existsSync(out), false, 'no partial file at the output path')
    const r = await run(args)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(lastLine(r.stdout))
    assert.ok(j.piecesReused > 0, `resumed ${j.piecesReused} pieces`)
    assert.equal(j.bytesFromHttp + j.piecesReused * 65536, s.data.length)
    assert.deepEqual(await readFile(out), Buffer.from(s.data))
  } finally { await s.close() }
})
