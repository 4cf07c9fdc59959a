import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { loopbackNodes } from '../helpers/loopback-node.js'
import { FrameDecoder } from '../../src/protocol/decode.js'
import { encodePiece } from '../../src/protocol/encode.js'
import type { Frame } from '../../src/protocol/message.js'
import { readFrames, writeFrames } from '../../src/protocol/stream-io.js'

const PROTO = '/doswarm-test/frames/1.0.0'
/** A loopback-only, mDNS-free node (the test network rule). */
const node = loopbackNodes('doswarm-frames-')

describe('readFrames over real libp2p streams (TCP, Noise, yamux)', () => {
  it('a slow reader gets every frame the remote wrote before it half-closed', async () => {
    const [a, b] = await Promise.all([node(), node()])
    const piece = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) % 251)
    const count = 48
    const received = new Promise<{ frames: Frame[], error?: Error }>(resolve => {
      void b.handle(PROTO, async (stream) => {
        const frames: Frame[] = []
        try {
          for await (const f of readFrames(stream, new FrameDecoder({ maxPayload: piece.length }), AbortSignal.timeout(20_000))) {
            frames.push(f)
            // a consumer busy with each frame: the stream stays paused while the remote keeps writing, then closes
            await sleep(10)
          }
          resolve({ frames })
        } catch (err) {
          resolve({ frames, error: err as Error })
        }
      })
    })
    const stream = await a.dialProtocol(b.getMultiaddrs(), PROTO, { signal: AbortSignal.timeout(5000) })
    for (let i = 0; i < count; i++) await writeFrames(stream, encodePiece(i + 1, i, piece), AbortSignal.timeout(10_000))
    await stream.close({ signal: AbortSignal.timeout(10_000) })
    const { frames, error } = await received
    assert.equal(error, undefined, `reader failed after ${frames.length} frames: ${String(error)}`)
    assert.equal(frames.length, count)
    frames.forEach((f, i) => {
      assert.equal(f.message.type, 'PIECE')
      assert.deepEqual(f.payload, piece, `payload of frame ${i}`)
    })
  })
})
