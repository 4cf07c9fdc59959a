/**
 * The emulated-LAN benchmark's machinery, end to end on a tiny scale: 3 host
 * namespaces + origin + bridge namespace with shaped links, a doswarm flash
 * crowd of real `doswarm get` processes finding each other by mDNS inside
 * those namespaces, every output verified, then teardown leaving no
 * namespace behind. Needs root and iproute2 (ip, tc); skipped with the
 * reason otherwise. Asserts no speed.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { cli, randomFile, sha256File } from '../../bench/lib/fixture.js'
import { startChild } from '../../bench/lib/proc.js'
import { existsSync } from 'node:fs'
import { runDaemonScenario } from '../../bench/lan/daemons.js'
import { ORIGIN_IP, lanAvailable, namespacesWithPrefix, nsExec, pidsIn, setupLan, teardownLan } from '../../bench/lan/netns.js'
import { originCounter } from '../../bench/lan/origin-counter.js'
import { runScenario, type RunResult } from '../../bench/lan/scenarios.js'

const here = dirname(fileURLToPath(import.meta.url))
const ORIGIN_HOST = join(here, '../../bench/lan/origin-host.js')
const available = lanAvailable()
const skip = available.ok ? false : `emulated LAN unavailable: ${available.reason}`
// unique per run, so this test and a benchmark (prefix dswlan-) or a parallel run never share namespaces
const PREFIX = `dswt${process.pid % 100000}-`

/**
 * What the origin wrote ≥ what its relay handed on to the LAN (≥ 1 copy: every
 * byte the nodes kept passed through it) ≥ what the nodes kept (= Σ bytesFromHttp)
 * ≥ 1 copy; and the origin link carried at least what the nodes kept.
 */
function assertOriginAccounting (r: RunResult): void {
  const headroom = 0.01 // response headers: relayed counts them, the origin's body counter does not
  const facts = JSON.stringify({ written: r.originCopies, relayed: r.originRelayedCopies, wire: r.originWireCopies, kept: r.originKeptCopies })
  assert.ok(r.originKeptCopies !== undefined && r.originKeptCopies >= 0.999, facts)
  assert.ok(r.originRelayedCopies !== undefined && r.originRelayedCopies >= r.originKeptCopies && r.originRelayedCopies <= r.originCopies + headroom, facts)
  assert.ok(r.originWireCopies >= r.originKeptCopies, facts)
  // the timeline's link column: known, never falling, never ahead of what the server wrote (plus headers)
  assert.ok(r.originTimeline.length > 0, 'timeline sampled')
  let prev = 0
  for (const [t, written, relayed] of r.originTimeline) {
    assert.ok(relayed !== null && relayed >= prev, `relayed bytes at ${t} s: ${String(relayed)} after ${prev}`)
    assert.ok(relayed <= written + headroom * r.size, `relayed ${relayed} > written ${written} at ${t} s`)
    prev = relayed
  }
}

/** An 8 MiB random file, a publisher key and its signed manifest (256 KiB pieces, the LAN origin's URL). */
async function content (dir: string): Promise<{ size: number, file: string, sha256: string, originUrl: string, publicKey: string, manifest: string }> {
  const size = 8 * 1024 * 1024
  const file = join(dir, 'content.bin')
  await randomFile(file, size)
  const sha256 = await sha256File(file)
  const originUrl = `http://${ORIGIN_IP}:8080/content`
  const publicKey = (await cli(['keygen', '--out', join(dir, 'publisher.key')])).trim().split('\n').pop() ?? ''
  const manifest = join(dir, 'content.manifest')
  await cli(['publish', file, '--key', join(dir, 'publisher.key'), '--origin', originUrl, '--piece-size', String(256 * 1024), '--out', manifest])
  return { size, file, sha256, originUrl, publicKey, manifest }
}

test('emulated LAN: 3 doswarm hosts + origin in namespaces, flash crowd verified, teardown complete', { skip, timeout: 150_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-lan-test-'))
  try {
    const { size, file, sha256, originUrl, publicKey, manifest } = await content(dir)
    const links = { hostMbit: 100, originMbit: 50 }
    const lan = setupLan({ prefix: PREFIX, hosts: 3, ...links })
    assert.deepEqual(namespacesWithPrefix(PREFIX).sort(), [`${PREFIX}br`, `${PREFIX}h1`, `${PREFIX}h2`, `${PREFIX}h3`, `${PREFIX}origin`])
    try {
      const [cmd, args] = nsExec(lan.origin.ns, process.execPath, [ORIGIN_HOST, '--file', file, '--bind', ORIGIN_IP, '--port', '8080', '--every-ms', '100'])
      const originProc = startChild(cmd, args, { name: 'origin', timeoutMs: 120_000 })
      await originProc.waitForLine(l => l.includes('"ready":true'), 20_000)
      const origin = originCounter(originProc, lan.origin.ns)
      const runDir = join(dir, 'run')
      await mkdir(runDir)
      const r = await runScenario({
        system: 'doswarm',
        scenario: 'flash',
        plan: lan.hosts.map((host, index) => ({ host, index, startAtMs: 0 })),
        dir: runDir,
        content: { size, sha256, manifest, publicKey, originUrl },
        links,
        timeoutMs: 60_000,
        seed: true,
        origin
      })
      originProc.signal('SIGINT')
      await originProc.exited
      assert.equal(r.failures, 0, JSON.stringify(r.nodes.map(x => ({ ns: x.ns, ok: x.ok, error: x.error }))))
      assert.equal(r.nodes.length, 3)
      for (const node of r.nodes) assert.ok(node.ok && Number.isFinite(node.completionMs), `${node.ns} verified`)
      // the origin is the only source: at least one copy, never more than one per host
      assert.ok(r.originCopies >= 0.999 && r.originCopies <= 3.01, `origin copies ${r.originCopies}`)
      assertOriginAccounting(r)
      assert.ok(Number.isFinite(r.lastCompletionS) && r.lowerBoundS > 0)
    } finally {
      teardownLan(PREFIX)
    }
    assert.deepEqual(namespacesWithPrefix(PREFIX), [], 'teardown leaves no namespace behind')
    assert.deepEqual(teardownLan(PREFIX), [], 'teardown is idempotent')
  } finally {
    teardownLan(PREFIX)
    await rm(dir, { recursive: true, force: true })
  }
})

test('emulated LAN, daemon mode: a doswarm serve per host, connected before the job; flash + late joiner verified, daemons gone after the run', { skip, timeout: 150_000 }, async () => {
  const prefix = `dswt${process.pid % 100000}d-`
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-lan-test-'))
  try {
    const { size, file, sha256, originUrl, publicKey, manifest } = await content(dir)
    const links = { hostMbit: 100, originMbit: 50 }
    // 3 hosts start together, the 4th submits its job when they are done
    const lan = setupLan({ prefix, hosts: 4, ...links })
    try {
      const [cmd, args] = nsExec(lan.origin.ns, process.execPath, [ORIGIN_HOST, '--file', file, '--bind', ORIGIN_IP, '--port', '8080', '--every-ms', '100'])
      const originProc = startChild(cmd, args, { name: 'origin', timeoutMs: 120_000 })
      await originProc.waitForLine(l => l.includes('"ready":true'), 20_000)
      const runDir = join(dir, 'run')
      await mkdir(runDir)
      const r = await runDaemonScenario({
        system: 'doswarm',
        scenario: 'late',
        mode: 'daemon',
        warmupS: 30,
        logDir: join(dir, 'logs'),
        plan: [...lan.hosts.slice(0, 3).map((host, index) => ({ host, index, startAtMs: 0 })), { host: lan.hosts[3] as typeof lan.hosts[number], index: 3 }],
        dir: runDir,
        content: { size, sha256, manifest, publicKey, originUrl },
        links,
        timeoutMs: 60_000,
        seed: true,
        origin: originCounter(originProc, lan.origin.ns)
      })
      originProc.signal('SIGINT')
      await originProc.exited
      assert.equal(r.failures, 0, JSON.stringify(r.nodes.map(x => ({ ns: x.ns, ok: x.ok, error: x.error }))))
      assert.equal(r.mode, 'daemon')
      assert.deepEqual(r.nodes.map(x => x.role).sort(), ['late', 'node', 'node', 'node'])
      for (const node of r.nodes) {
        assert.ok(node.ok && Number.isFinite(node.completionMs) && node.completionMs > node.startMs, `${node.ns} verified`)
        // measured per daemon process over its job
        assert.ok((node.cpuSeconds ?? 0) > 0 && (node.maxRssBytes ?? 0) > 10e6, `${node.ns}: cpu ${String(node.cpuSeconds)} s, rss ${String(node.maxRssBytes)}`)
        assert.equal((node.bytesFromHttp ?? 0) + (node.bytesFromPeers ?? 0), size, `${node.ns}: bytes by source add up to the file`)
      }
      // every daemon saw the other three before the job was submitted
      assert.ok(r.daemons !== undefined && Number.isFinite(r.daemons.meshedS), JSON.stringify(r.daemons))
      assert.equal(r.daemons.connectionsAtSubmit.length, 4)
      for (const c of r.daemons.connectionsAtSubmit) assert.ok(c >= 3)
      // the late joiner had three complete daemons to fetch from
      assert.equal(r.nodes.find(x => x.role === 'late')?.bytesFromHttp, 0)
      assert.ok(r.originCopies >= 0.999 && r.originCopies <= 3.01, `origin copies ${r.originCopies}`)
      assertOriginAccounting(r)
      // each daemon's stderr is kept when asked for
      assert.deepEqual((await readdir(join(dir, 'logs'))).sort(), lan.hosts.map(h => `doswarm-late-daemon-${h.ns}.log`).sort())
      // the run stops its daemons and removes their state, caches and sockets
      for (const h of lan.hosts) assert.deepEqual(pidsIn(h.ns), [], `no process left in ${h.ns}`)
      assert.equal(existsSync(runDir), false)
    } finally {
      teardownLan(prefix)
    }
    assert.deepEqual(namespacesWithPrefix(prefix), [])
  } finally {
    teardownLan(prefix)
    await rm(dir, { recursive: true, force: true })
  }
})

test('emulated LAN: a bad namespace prefix is refused before anything is created', { skip }, () => {
  assert.throws(() => setupLan({ prefix: 'bad prefix; rm', hosts: 1, hostMbit: 100, originMbit: 50 }), /namespace prefix/)
})
