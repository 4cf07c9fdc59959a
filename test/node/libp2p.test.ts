import '../../src/polyfill.js'
import { describe, it, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { PROTOCOL_ID } from '../../src/protocol/constants.js'
import { echo, echoServer } from '../helpers/echo.js'
import {
  createP2PNode, dialStaticPeers, dialDiscoveredPeers, peerIdString, parseStaticPeer, loadOrCreatePeerKey,
  DEFAULT_LIMITS, PEER_KEY_FILE, MDNS_QUERY_INTERVAL_MS, MDNS_SERVICE_TAG, PING_TIMEOUT_FLOOR_MS, mdnsOptions,
  type P2PNode, type P2PNodeInit
} from '../../src/node/libp2p.js'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const dirs: string[] = []
const nodes: Array<Libp2p<any>> = []

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'doswarm-p2p-'))
  dirs.push(d)
  return d
}

/** A loopback-only, mDNS-free node (the test network rule). */
async function node (init: Partial<P2PNodeInit> = {}): Promise<P2PNode> {
  const n = await createP2PNode({ stateDir: await tempDir(), listen: [LOOPBACK], mdns: false, log: () => {}, ...init })
  nodes.push(n)
  return n
}

function addrOf (n: Libp2p<any>): string {
  const a = n.getMultiaddrs()[0]
  assert.ok(a !== undefined, 'node has a listen address')
  return a.toString()
}

function bare (addr: string): string {
  return addr.replace(/\/p2p\/[^/]+$/, '')
}

async function waitFor (cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function connected (a: Libp2p<any>, b: Libp2p<any>): boolean {
  return a.getConnections(b.peerId).some(c => c.status === 'open')
}

async function freePort (): Promise<number> {
  const srv = createServer()
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>(resolve => srv.close(() => { resolve() }))
  return port
}

async function stopAll (): Promise<void> {
  await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
}

after(async () => {
  await stopAll()
  await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
})

describe('p2p identity', () => {
  afterEach(stopAll)

  it('keeps the same peer id across restarts with the same state dir; key file is 0600', { timeout: 10_000 }, async () => {
    const stateDir = await tempDir()
    const a = await createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false })
    const id1 = peerIdString(a)
    await a.stop()
    const b = await createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false })
    const id2 = peerIdString(b)
    await b.stop()
    assert.equal(id1, id2)
    assert.match(id1, /^12D3KooW/, 'an Ed25519 peer id')
    const st = await stat(join(stateDir, PEER_KEY_FILE))
    if (process.platform !== 'win32') assert.equal(st.mode & 0o777, 0o600)
    const other = await node()
    assert.notEqual(peerIdString(other), id1, 'a different state dir is a different identity')
  })

  it('concurrent first starts agree on one key', async () => {
    const stateDir = await tempDir()
    const keys = await Promise.all(Array.from({ length: 8 }, async () => await loadOrCreatePeerKey(stateDir)))
    assert.equal(keys.filter(k => k.created).length, 1)
    const raw = new Set(keys.map(k => Buffer.from(k.privateKey.raw).toString('hex')))
    assert.equal(raw.size, 1)
  })

  it('refuses a corrupt key file instead of silently changing identity', async () => {
    const stateDir = await tempDir()
    await writeFile(join(stateDir, PEER_KEY_FILE), randomBytes(40), { mode: 0o600 })
    await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false }), { code: 'KEY_INVALID' })
    assert.equal((await readFile(join(stateDir, PEER_KEY_FILE))).length, 40, 'file left alone')
  })
})

describe('p2p static peers', () => {
  afterEach(stopAll)

  it('connects to a static peer given with /p2p/<id>', { timeout: 10_000 }, async () => {
    const a = await node()
    assert.match(addrOf(a), /\/p2p\//)
    const b = await node({ peers: [addrOf(a)] })
    await waitFor(() => connected(b, a) && connected(a, b), 5000, 'b connected to a')
  })

  it('connects to a bare multiaddr (no /p2p suffix) and learns the peer id', { timeout: 10_000 }, async () => {
    const a = await node()
    const b = await node()
    await dialStaticPeers(b, [bare(addrOf(a))])
    assert.ok(connected(b, a), 'connected after the first attempt')
    assert.equal(b.getConnections(a.peerId)[0]?.remotePeer.toString(), peerIdString(a))
  })

  it('a static peer with the wrong /p2p id is not accepted', { timeout: 10_000 }, async () => {
    const a = await node()
    const c = await node()
    const logs: string[] = []
    const b = await node({ log: m => { logs.push(m) } })
    const ctl = new AbortController()
    await dialStaticPeers(b, [`${bare(addrOf(a))}/p2p/${peerIdString(c)}`], ctl.signal)
    ctl.abort()
    assert.equal(b.getConnections().length, 0)
    assert.ok(logs.some(l => l.includes('unreachable')), logs.join('\n'))
  })

  it('dials from the dialFrom address, and refuses one that is not an IP', { timeout: 10_000 }, async () => {
    const a = await node()
    const b = await node({ dialFrom: '127.0.0.77' })
    await b.dial(multiaddr(addrOf(a)))
    await waitFor(() => connected(a, b), 5000, 'a sees b')
    const seen = a.getConnections(b.peerId)[0]?.remoteAddr.toString() ?? ''
    assert.match(seen, /^\/ip4\/127\.0\.0\.77\/tcp\//, seen)
    await assert.rejects(node({ dialFrom: 'eth0' }), (err: Error) => err.name === 'UsageError' && /dialFrom/.test(err.message))
  })

  it('skips this node itself and reports bad addresses without throwing', { timeout: 10_000 }, async () => {
    const logs: string[] = []
    const a = await node({ log: m => { logs.push(m) } })
    await dialStaticPeers(a, [addrOf(a), bare(addrOf(a)), 'not a multiaddr'])
    assert.equal(a.getConnections().length, 0)
    assert.equal(logs.filter(l => l.includes('is this node')).length, 2, logs.join('\n'))
    assert.ok(logs.some(l => l.includes('invalid peer address')), logs.join('\n'))
  })

  it('keeps redialling a static peer that starts later, and after it restarts', { timeout: 15_000 }, async () => {
    const port = await freePort()
    const stateDir = await tempDir()
    const logs: string[] = []
    const b = await node({ peers: [`/ip4/127.0.0.1/tcp/${port}`], redial: { minDelayMs: 100, maxDelayMs: 300 }, log: m => { logs.push(m) } })
    await new Promise(resolve => setTimeout(resolve, 500))
    assert.equal(b.getConnections().length, 0)
    assert.ok(logs.some(l => l.includes('unreachable')), 'the failure was logged')
    const a1 = await createP2PNode({ stateDir, listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false })
    try {
      await waitFor(() => connected(b, a1), 3000, 'b found the late peer')
    } finally {
      await a1.stop()
    }
    await waitFor(() => b.getConnections().length === 0, 3000, 'b saw the disconnect')
    // same identity, same port: b redials it on its own
    const a2 = await createP2PNode({ stateDir, listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false })
    nodes.push(a2)
    await waitFor(() => connected(b, a2), 3000, 'b reconnected after the restart')
  })

  it('dials peers a discovery service reports (the mDNS path, without multicast)', { timeout: 10_000 }, async () => {
    const a = await node()
    const b = await node()
    const discovery = new EventTarget()
    dialDiscoveredPeers(b, discovery as unknown as Parameters<typeof dialDiscoveredPeers>[1])
    const announce = (n: Libp2p<any>): void => {
      discovery.dispatchEvent(new CustomEvent('peer', { detail: { id: n.peerId, multiaddrs: n.getMultiaddrs() } }))
    }
    announce(b) // itself: ignored
    announce(a)
    await waitFor(() => connected(b, a), 5000, 'b dialled the discovered peer')
    assert.equal(b.getConnections().length, 1)
    // re-announced after the connection dropped: dialled again
    await b.hangUp(a.peerId)
    await waitFor(() => b.getConnections().length === 0, 2000, 'hang-up')
    announce(a)
    await waitFor(() => connected(b, a), 5000, 'b redialled on re-announcement')
  })

  it('many peers discovered at once: no listener-leak warning (each dial has its own abort signal)', { timeout: 10_000 }, async () => {
    const b = await node()
    const discovery = new EventTarget()
    dialDiscoveredPeers(b, discovery as unknown as Parameters<typeof dialDiscoveredPeers>[1])
    const warnings: string[] = []
    const onWarning = (w: Error): void => { if (w.name === 'MaxListenersExceededWarning') warnings.push(w.message) }
    process.on('warning', onWarning)
    try {
      // 20 neighbours announced together, as mDNS does on a LAN; nobody listens on these ports
      for (let i = 0; i < 20; i++) {
        const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
        discovery.dispatchEvent(new CustomEvent('peer', { detail: { id, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/${i + 1}`)] } }))
      }
      await new Promise(resolve => setTimeout(resolve, 1000))
      assert.deepEqual(warnings, [])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('parseStaticPeer accepts both forms and rejects garbage with UsageError', () => {
    const withId = parseStaticPeer('/ip4/10.0.0.1/tcp/7680/p2p/12D3KooWL4hVNV5iQRwqrjUcDCSjk8EXWbzzkfmoFXF54X9DnUJn')
    assert.equal(withId.peerId?.toString(), '12D3KooWL4hVNV5iQRwqrjUcDCSjk8EXWbzzkfmoFXF54X9DnUJn')
    assert.equal(parseStaticPeer('/ip4/10.0.0.1/tcp/7680').peerId, undefined)
    assert.throws(() => parseStaticPeer('10.0.0.1:7680'), { code: 'USAGE' })
  })
})

describe('p2p streams and gating', () => {
  afterEach(stopAll)

  it('echoes data over a v3 stream (send/drain, for-await read, half-close)', { timeout: 10_000 }, async () => {
    const a = await node()
    const b = await node()
    await echoServer(a)
    const payload = randomBytes(1024 * 1024)
    assert.ok((await echo(b, a, payload)).equals(payload), 'echo matches')
  })

  it('denyPeer keeps a banned peer out in both directions', { timeout: 10_000 }, async () => {
    const b = await node()
    const banned = peerIdString(b)
    const a = await node({ denyPeer: id => id === banned })
    // outbound from the ban holder: refused before dialling
    await assert.rejects(a.dial(b.getMultiaddrs()))
    // inbound: the banned side may finish its half of the handshake, but the
    // connection is closed at once and never reaches the ban holder
    await b.dial(a.getMultiaddrs()).catch(() => {})
    await waitFor(() => b.getConnections().length === 0, 2000, 'banned connection closed')
    assert.equal(a.getConnections().length, 0)
    const c = await node()
    await c.dial(a.getMultiaddrs())
    assert.ok(connected(c, a), 'other peers still get in')
  })

  it('a static peer that bans us is redialled with backoff, not in a hot loop', { timeout: 10_000 }, async () => {
    const b = await node()
    const a = await node({ denyPeer: id => id === peerIdString(b) })
    let opened = 0
    b.addEventListener('connection:open', () => { opened++ })
    const ctl = new AbortController()
    await dialStaticPeers(b, [addrOf(a)], ctl.signal)
    await new Promise(resolve => setTimeout(resolve, 1500))
    ctl.abort()
    assert.equal(a.getConnections().length, 0)
    assert.ok(opened <= 6, `${opened} connections opened in 1.5 s`)
  })

  it('20 nodes dialling one node at once all connect (inboundConnectionThreshold trap)', { timeout: 20_000 }, async () => {
    const hub = await node()
    const spokes = await Promise.all(Array.from({ length: 20 }, async () => await node()))
    // doswarm nodes: identify lists the swarm protocol, which makes their host known to the hub's
    // admission control (a host of plain libp2p nodes gets maxUnprovenPerIp connections: admission.test.ts)
    await Promise.all(spokes.map(async s => { await s.handle(PROTOCOL_ID, () => {}) }))
    const results = await Promise.allSettled(spokes.map(async s => await s.dial(hub.getMultiaddrs())))
    const failed = results.filter(r => r.status === 'rejected')
    assert.equal(failed.length, 0, `failed dials: ${failed.map(f => String((f as PromiseRejectedResult).reason)).join('; ')}`)
    await waitFor(() => hub.getConnections().length === 20, 3000, 'hub sees 20 connections')
  })

  it('pings slower than the ping interval overlap without cutting the connection', { timeout: 15_000 }, async () => {
    // libp2p's connection monitor starts a ping every interval even while the
    // last one waits, and aborts the connection when it cannot open a stream
    const a = await node({ limits: { pingIntervalMs: 250 } })
    const b = await node()
    const PING = '/ipfs/ping/1.0.0'
    let inflight = 0
    let overlap = 0
    let answered = 0
    await b.unhandle(PING)
    await b.handle(PING, async (stream) => {
      overlap = Math.max(overlap, ++inflight)
      try {
        const got: Uint8Array[] = []
        let n = 0
        for await (const chunk of stream) {
          const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
          got.push(bytes)
          n += bytes.length
          if (n >= 32) break
        }
        await new Promise(resolve => setTimeout(resolve, 1200)) // a busy host answers late
        stream.send(Buffer.concat(got).subarray(0, 32))
        await stream.close()
        answered++
      } catch {} finally { inflight-- }
    }, { maxInboundStreams: 64 })
    const conn = await a.dial(b.getMultiaddrs())
    await waitFor(() => overlap >= 3 && answered >= 2, 8000, 'overlapping slow pings')
    assert.equal(conn.status, 'open', 'the connection survived overlapping pings')
    assert.ok(a.getConnections(b.peerId).includes(conn))
  })

  it('with libp2p\'s default limits the same burst loses connections (the trap is real)', { timeout: 20_000 }, async () => {
    const hub = await node({ limits: { inboundConnectionThreshold: 5, maxIncomingPendingConnections: 10 } })
    const spokes = await Promise.all(Array.from({ length: 20 }, async () => await node()))
    const results = await Promise.allSettled(spokes.map(async s => await s.dial(hub.getMultiaddrs())))
    await new Promise(resolve => setTimeout(resolve, 300))
    const ok = results.filter(r => r.status === 'fulfilled').length
    assert.ok(hub.getConnections().length < 20 || ok < 20, `expected losses, got ${ok} dials ok, hub has ${hub.getConnections().length}`)
  })
})

describe('p2p listening and lifecycle', () => {
  afterEach(stopAll)

  it('throws PortInUseError when the listen port is taken', { timeout: 10_000 }, async () => {
    const srv: Server = createServer()
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
    const port = (srv.address() as { port: number }).port
    try {
      await assert.rejects(
        createP2PNode({ stateDir: await tempDir(), listen: [`/ip4/127.0.0.1/tcp/${port}`], mdns: false }),
        (err: Error & { code?: string }) => {
          assert.equal(err.name, 'PortInUseError')
          assert.equal(err.code, 'PORT_IN_USE')
          assert.equal(err.message, `port ${port} is already in use (another doswarm node?); choose another with --listen /ip4/0.0.0.0/tcp/PORT`)
          return true
        })
    } finally {
      await new Promise<void>(resolve => srv.close(() => { resolve() }))
    }
  })

  it('rejects bad listen addresses and limits with UsageError', async () => {
    const stateDir = await tempDir()
    await assert.rejects(createP2PNode({ stateDir, listen: ['nonsense'], mdns: false }), { code: 'USAGE' })
    await assert.rejects(createP2PNode({ stateDir, listen: ['/ip4/127.0.0.1/udp/0'], mdns: false }), { code: 'USAGE' })
    await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false, peers: ['x'] }), { code: 'USAGE' })
    await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false, maxConnections: 0 }), { code: 'USAGE' })
    // refused before libp2p starts, so nothing is multicast
    await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdnsIntervalMs: 50 }), { code: 'USAGE' })
    await assert.rejects(createP2PNode({ stateDir, listen: [LOOPBACK], mdns: false, mdnsIntervalMs: 50 }), { code: 'USAGE' })
  })

  it('mDNS queries every 30 s unless told otherwise; below 1 s is refused', () => {
    assert.deepEqual(mdnsOptions({}), { serviceTag: MDNS_SERVICE_TAG, interval: MDNS_QUERY_INTERVAL_MS })
    assert.equal(MDNS_QUERY_INTERVAL_MS, 30_000)
    assert.deepEqual(mdnsOptions({ mdnsIntervalMs: 5000 }), { serviceTag: MDNS_SERVICE_TAG, interval: 5000 })
    for (const bad of [999, 0, -1, 1500.5, Number.NaN]) {
      assert.throws(() => mdnsOptions({ mdnsIntervalMs: bad }), { code: 'USAGE' }, String(bad))
    }
  })

  it('sets finite limits on every knob', () => {
    for (const [k, v] of Object.entries(DEFAULT_LIMITS)) assert.ok(Number.isFinite(v) && v > 0, k)
    assert.ok(DEFAULT_LIMITS.maxReadBufferLength >= DEFAULT_LIMITS.maxStreamWindowSize, 'pause() never overflows the read buffer')
    assert.ok(DEFAULT_LIMITS.inboundConnectionThreshold >= 20 && DEFAULT_LIMITS.maxIncomingPendingConnections >= 20)
    // a silent peer is dropped within 2 minutes: the next ping starts within an interval and times out by 4 × the floor
    assert.ok(DEFAULT_LIMITS.pingIntervalMs + 4 * PING_TIMEOUT_FLOOR_MS <= 120_000)
  })

  it('a stopped node leaves no handles: the process exits by itself', { timeout: 15_000 }, async () => {
    const mod = new URL('../../src/node/libp2p.js', import.meta.url).href
    const stateDir = await tempDir()
    const port = await freePort()
    const script = `
      import { createP2PNode } from ${JSON.stringify(mod)}
      const opts = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, log: () => {} }
      const a = await createP2PNode({ ...opts, stateDir: ${JSON.stringify(join(stateDir, 'a'))} })
      // one reachable static peer and one that never answers (a pending redial timer)
      const b = await createP2PNode({ ...opts, stateDir: ${JSON.stringify(join(stateDir, 'b'))},
        peers: [a.getMultiaddrs()[0].toString(), '/ip4/127.0.0.1/tcp/${port}'] })
      const t0 = Date.now()
      while (b.getConnections(a.peerId).length === 0) {
        if (Date.now() - t0 > 5000) { console.error('no connection'); process.exit(3) }
        await new Promise(r => setTimeout(r, 20))
      }
      await b.stop()
      await a.stop()
      console.log('stopped')
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const started = Date.now()
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null) }, 8000)
      child.on('exit', c => { clearTimeout(timer); resolve(c) })
    })
    assert.equal(code, 0, `child did not exit cleanly (code ${String(code)}): ${out}`)
    assert.match(out, /stopped/)
    assert.ok(Date.now() - started < 8000)
  })
})
