/**
 * Receive-window credit over real libp2p streams (TCP, Noise, yamux): the
 * receiver grants credit in halves of its window (yamux-guard.ts,
 * lazyWindowUpdates), not after every DATA frame, and a stream still moves
 * every byte — also through pauses.
 */
import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Stream } from '@libp2p/interface'
import { loopbackNodes } from '../helpers/loopback-node.js'
import { lazyWindowUpdates } from '../../src/node/yamux-guard.js'

const PROTO = '/doswarm-test/window/1.0.0'
/** yamux's initial stream window (256 KiB): no grant may be smaller than half of it */
const INITIAL_WINDOW = 256 * 1024
const WINDOW_UPDATE = 1

/** A loopback-only, mDNS-free node (the test network rule). */
const node = loopbackNodes('doswarm-window-')

interface Header { type: number, flag: number, length: number }

/** Record the frame headers a yamux stream sends (its sendFrame is an own property in yamux 8.x). */
function recordSent (stream: Stream): Header[] {
  const sent: Header[] = []
  const s = stream as unknown as { sendFrame: (h: Header, d?: unknown) => unknown }
  assert.equal(typeof s.sendFrame, 'function', 'yamux stream without sendFrame: the yamux version changed, see lazyWindowUpdates')
  const send = s.sendFrame
  s.sendFrame = (h, d) => { sent.push({ type: h.type, flag: h.flag, length: h.length }); return send(h, d) }
  return sent
}

/** Send `total` bytes in `chunk`-sized writes, yielding between them so DATA frames stay small. */
async function trickle (stream: Stream, total: number, chunk: number): Promise<string> {
  const hash = createHash('sha256')
  for (let sent = 0, i = 0; sent < total; sent += chunk, i++) {
    const buf = new Uint8Array(chunk).fill(i % 251)
    hash.update(buf)
    if (!stream.send(buf)) await new Promise(resolve => { stream.addEventListener('drain', resolve, { once: true }) })
    if (i % 4 === 0) await sleep(0)
  }
  await stream.close({ signal: AbortSignal.timeout(20_000) })
  return hash.digest('hex')
}

describe('yamux receive window (lazyWindowUpdates)', () => {
  it('grants credit at least half a window at a time, and every byte arrives', async () => {
    const [a, b] = await Promise.all([node(), node()])
    const total = 8 * 1024 * 1024
    const received = new Promise<{ hash: string, bytes: number, updates: Header[] }>((resolve, reject) => {
      void b.handle(PROTO, async (stream) => {
        const sent = recordSent(stream)
        const hash = createHash('sha256')
        let bytes = 0
        try {
          let paused = 0
          for await (const chunk of stream) {
            const data = chunk instanceof Uint8Array ? chunk : chunk.subarray()
            hash.update(data)
            bytes += data.byteLength
            // pause now and then, as readFrames does while a frame is handled
            if (bytes > (paused + 1) * 1024 * 1024) { paused++; stream.pause(); await sleep(5); stream.resume() }
          }
          resolve({ hash: hash.digest('hex'), bytes, updates: sent.filter(h => h.type === WINDOW_UPDATE) })
        } catch (err) { reject(err) }
      })
    })
    const stream = await a.dialProtocol(b.getMultiaddrs(), PROTO, { signal: AbortSignal.timeout(5000) })
    const sentHash = await trickle(stream, total, 16 * 1024)
    const r = await received
    assert.equal(r.bytes, total)
    assert.equal(r.hash, sentHash)
    const grants = r.updates.filter(h => h.flag === 0)
    assert.ok(grants.length > 0, 'the receiver granted credit')
    for (const g of grants) assert.ok(g.length >= INITIAL_WINDOW / 2, `a window update of ${g.length} bytes: credit granted in small steps`)
    // 16 KiB writes: eager credit would be ~one update per 16 KiB DATA frame (~500)
    assert.ok(grants.length <= total / (INITIAL_WINDOW / 2), `${grants.length} window updates for ${total} bytes`)
  })

  it('leaves a stream without yamux window fields untouched', () => {
    const plain = { sendWindowUpdate: () => 'orig' }
    const before = plain.sendWindowUpdate
    lazyWindowUpdates(plain)
    assert.equal(plain.sendWindowUpdate, before)
    lazyWindowUpdates(undefined)
  })
})
