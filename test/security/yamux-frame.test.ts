/**
 * THREATS R5, the giant yamux DATA frame: after a real Noise handshake the
 * attacker writes a DATA header claiming 0xFFFFFFFF bytes and then streams
 * bytes. Plain `@chainsafe/libp2p-yamux` 8.0.1 buffers them all (the control
 * test shows it); a doswarm node closes the connection at the header.
 */
import '../../src/polyfill.js'
import test from 'node:test'
import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { ProtocolError } from '../../src/errors.js'
import { createP2PNode, DEFAULT_LIMITS } from '../../src/node/libp2p.js'
import { YamuxFrameGuard } from '../../src/node/yamux-guard.js'
import { echo, echoServer } from '../helpers/echo.js'
import { YAMUX_DATA, YAMUX_FLAG_SYN, startRawYamuxPeer, victimDir, yamuxHeader, type RawConnection } from '../helpers/raw-yamux-peer.js'
import { waitFor } from '../helpers/swarm-fixture.js'

const MiB = 1024 * 1024

/** Send the giant header, then up to `total` bytes in 256 KiB writes; returns the bytes written before the connection closed. */
async function pumpGiantFrame (raw: RawConnection, total: number): Promise<number> {
  raw.rawSend(yamuxHeader(YAMUX_DATA, YAMUX_FLAG_SYN, 101, 0xFFFFFFFF))
  const chunk = new Uint8Array(256 * 1024).fill(0x41)
  let sent = 0
  while (sent < total && !raw.closed()) {
    let ok: boolean
    try { ok = raw.rawSend(chunk) } catch { break }
    sent += chunk.length
    if (!ok) await raw.drained()
    // yield so the victim's side of the loopback connection runs
    await new Promise(resolve => setImmediate(resolve))
  }
  return sent
}

test('R5 a doswarm node closes a connection at a giant yamux DATA header; others are unaffected', { timeout: 30_000 }, async (t) => {
  const dir = await victimDir()
  const victim = await createP2PNode({ stateDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, log: () => {} })
  await echoServer(victim)
  const attacker = await startRawYamuxPeer()
  const honest = await startRawYamuxPeer()
  t.after(async () => { await Promise.allSettled([victim.stop(), attacker.stop(), honest.stop()]); await rm(dir, { recursive: true, force: true }) })
  const addr = victim.getMultiaddrs()[0]?.toString() ?? ''
  const raw = await attacker.connect(addr)
  const rssBefore = process.memoryUsage().rss
  const started = performance.now()
  const sent = await pumpGiantFrame(raw, 64 * MiB)
  await waitFor(() => raw.closed() && victim.getConnections(attacker.node.peerId).length === 0, 10_000, 'the victim to close the connection')
  const ms = performance.now() - started
  const growth = process.memoryUsage().rss - rssBefore
  t.diagnostic(`attacker wrote ${(sent / MiB).toFixed(2)} MiB before the close; closed after ${ms.toFixed(0)} ms; RSS growth ${(growth / MiB).toFixed(1)} MiB`)
  assert.ok(sent < 64 * MiB, 'the connection closed before the attacker could write 64 MiB')
  // the victim is fine: an honest peer still connects and echoes
  const payload = new Uint8Array(MiB).map((_, i) => i & 0xff)
  const back = await echo(honest.node, victim, payload)
  assert.equal(Buffer.compare(back, Buffer.from(payload)), 0)
})

test('R5 control: plain yamux 8.0.1 buffers the giant frame (why the guard exists)', { timeout: 30_000 }, async (t) => {
  const victim = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
  const attacker = await startRawYamuxPeer()
  t.after(async () => { await Promise.allSettled([victim.stop(), attacker.stop()]) })
  const raw = await attacker.connect(victim.getMultiaddrs()[0]?.toString() ?? '')
  const target = 24 * MiB
  const sent = await pumpGiantFrame(raw, target)
  assert.equal(sent, target)
  const conn = victim.getConnections(attacker.node.peerId)[0]
  const buffered = (): number => (conn as unknown as { muxer: { decoder: { buffer: { byteLength: number } } } }).muxer.decoder.buffer.byteLength
  await waitFor(() => buffered() >= target, 10_000, 'the victim to buffer what was sent')
  t.diagnostic(`unguarded victim holds ${(buffered() / MiB).toFixed(1)} MiB of one unfinished frame; connection ${conn?.status}`)
  assert.equal(conn?.status, 'open')
})

test('YamuxFrameGuard follows frame boundaries across any split and rejects only oversized DATA frames', () => {
  const frames: Uint8Array[] = [
    yamuxHeader(1, 1, 1, 0xFFFFFFFF), // a window update's length is a delta, not a body
    yamuxHeader(2, 1, 0, 0xFFFFFFFF), // ping opaque value
    yamuxHeader(YAMUX_DATA, 0, 1, 5), new Uint8Array(5).fill(0),
    yamuxHeader(YAMUX_DATA, 0, 3, DEFAULT_LIMITS.maxStreamWindowSize), new Uint8Array(DEFAULT_LIMITS.maxStreamWindowSize)
  ]
  const stream = Buffer.concat(frames)
  for (const step of [1, 7, 12, 13, 4096, stream.length]) {
    const guard = new YamuxFrameGuard(DEFAULT_LIMITS.maxStreamWindowSize)
    for (let at = 0; at < stream.length; at += step) guard.feed(stream.subarray(at, at + step))
  }
  const guard = new YamuxFrameGuard(DEFAULT_LIMITS.maxStreamWindowSize)
  guard.feed(stream)
  const giant = yamuxHeader(YAMUX_DATA, 0, 5, DEFAULT_LIMITS.maxStreamWindowSize + 1)
  guard.feed(giant.subarray(0, 11))
  assert.throws(() => { guard.feed(giant.subarray(11)) }, ProtocolError)
  assert.throws(() => new YamuxFrameGuard(0), RangeError)
})

test('YamuxFrameGuard counts stream opens and pings per window', () => {
  let now = 0
  const guard = new YamuxFrameGuard({ maxDataFrame: 1024, maxStreamOpens: 3, maxPings: 2, windowMs: 1000 }, () => now)
  const syn = (type: number, id: number): Uint8Array => yamuxHeader(type, YAMUX_FLAG_SYN, id, 0)
  for (const id of [1, 3, 5]) guard.feed(syn(1, id))
  guard.feed(yamuxHeader(2, 0x2, 0, 7)) // a pong (ACK) is not counted
  guard.feed(syn(2, 0))
  guard.feed(syn(2, 0))
  now = 1000 // a new window
  for (const id of [7, 9, 11]) guard.feed(syn(1, id))
  guard.feed(syn(2, 0))
  guard.feed(syn(2, 0))
  assert.throws(() => { guard.feed(syn(2, 0)) }, /more than 2 yamux pings/)
  const other = new YamuxFrameGuard({ maxDataFrame: 1024, maxStreamOpens: 1 }, () => 0)
  other.feed(syn(YAMUX_DATA, 1))
  assert.throws(() => { other.feed(syn(YAMUX_DATA, 3)) }, /more than 1 streams/)
})
