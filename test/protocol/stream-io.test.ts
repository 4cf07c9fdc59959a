import '../../src/polyfill.js'
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { streamPair } from '@libp2p/utils'
import fc from 'fast-check'
import { FrameDecoder } from '../../src/protocol/decode.js'
import { encodeFrame, encodePiece } from '../../src/protocol/encode.js'
import type { Frame, Message } from '../../src/protocol/message.js'
import type { Uint8ArrayList } from 'uint8arraylist'
import { readFrames, StreamClosedError, writeFrames, type FrameSink, type FrameSource } from '../../src/protocol/stream-io.js'
import { concat, expectedFrame, frameContent, sampleArb, splitAt, type Sample } from './arbitraries.js'

const decoder = (): FrameDecoder => new FrameDecoder({ maxPayload: 1 << 20 })

async function collect (frames: AsyncIterable<Frame>): Promise<Frame[]> {
  const out: Frame[] = []
  for await (const f of frames) out.push(f)
  return out
}

async function * chunksOf (chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) {
    await Promise.resolve()
    yield c
  }
}

/** A source whose next() never settles, like a silent peer. */
function silentSource (): FrameSource & { returned: boolean } {
  const source = {
    returned: false,
    [Symbol.asyncIterator] () {
      return {
        next: async () => await new Promise<IteratorResult<Uint8Array>>(() => {}),
        return: async () => { source.returned = true; return { done: true as const, value: undefined } }
      }
    }
  }
  return source
}

describe('readFrames', () => {
  it('yields the frames of a source split anywhere (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(sampleArb, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 20 }), async (samples: Sample[], cuts) => {
      const bytes = concat(samples.flatMap(s => encodeFrame(s.message, s.payload)))
      assert.deepEqual(frameContent(await collect(readFrames(chunksOf(splitAt(bytes, cuts)), decoder()))), samples.map(expectedFrame))
    }), { numRuns: 100 })
  })

  it('pauses the source while the consumer holds frames, and resumes it after', async () => {
    const bytes = concat([...encodeFrame({ type: 'HAVE', index: 1 }), ...encodeFrame({ type: 'HAVE', index: 2 })])
    let paused = false
    const calls: string[] = []
    const source: FrameSource = {
      [Symbol.asyncIterator]: () => chunksOf([bytes.subarray(0, 3), bytes.subarray(3)]),
      pause: () => { paused = true; calls.push('pause') },
      resume: () => { paused = false; calls.push('resume') }
    }
    for await (const frame of readFrames(source, decoder())) {
      assert.equal(paused, true, `paused while handling ${frame.message.type}`)
      await sleep(1)
    }
    assert.equal(paused, false)
    assert.deepEqual(calls, ['pause', 'resume'])
  })

  it('survives pause()/resume() that throw on a closing stream', async () => {
    const bytes = concat(encodeFrame({ type: 'HAVE', index: 1 }))
    const source: FrameSource = {
      [Symbol.asyncIterator]: () => chunksOf([bytes]),
      pause: () => { throw new Error('closing') },
      resume: () => { throw new Error('closed') }
    }
    assert.equal((await collect(readFrames(source, decoder()))).length, 1)
  })

  it('throws StreamTruncatedError (a disconnect, not a violation) when the source ends inside a frame', async () => {
    const bytes = concat(encodeFrame({ type: 'HAVE', index: 1 }))
    await assert.rejects(collect(readFrames(chunksOf([bytes, bytes.subarray(0, 2)]), decoder())), { name: 'StreamTruncatedError', code: 'STREAM_TRUNCATED' })
  })

  it('throws ProtocolError on a bad frame, after yielding the good ones before it', async () => {
    const good = concat(encodeFrame({ type: 'HAVE', index: 1 }))
    const seen: Frame[] = []
    await assert.rejects(async () => {
      for await (const f of readFrames(chunksOf([good, Uint8Array.from([0x81, 0x20])]), decoder())) seen.push(f)
    }, { name: 'ProtocolError' })
    assert.equal(seen.length, 1)
  })

  it('stops a silent source promptly on abort and releases its iterator', async () => {
    const source = silentSource()
    const controller = new AbortController()
    const started = Date.now()
    setTimeout(() => { controller.abort() }, 20)
    await assert.rejects(collect(readFrames(source, decoder(), controller.signal)), { name: 'AbortedError' })
    assert.ok(Date.now() - started < 1000)
    assert.equal(source.returned, true)
    await assert.rejects(collect(readFrames(source, decoder(), controller.signal)), { name: 'AbortedError' })
  })

  it('unwraps a close event thrown by the source into its Error', async () => {
    const cause = new Error('stream reset')
    const source: FrameSource = {
      async * [Symbol.asyncIterator] () {
        yield new Uint8Array(0)
        throw Object.assign(new Event('close'), { error: cause }) as unknown as Error
      }
    }
    await assert.rejects(collect(readFrames(source, decoder())), err => err === cause)
  })

  it('returns the source iterator when the consumer stops early', async () => {
    let finished = false
    const bytes = concat([...encodeFrame({ type: 'HAVE', index: 1 }), ...encodeFrame({ type: 'HAVE', index: 2 })])
    const source: FrameSource = {
      async * [Symbol.asyncIterator] () {
        try { yield bytes; await new Promise(() => {}) } finally { finished = true }
      }
    }
    for await (const frame of readFrames(source, decoder())) {
      assert.equal(frame.message.type, 'HAVE')
      break
    }
    assert.equal(finished, true)
  })
})

type Listener = Parameters<EventTarget['addEventListener']>[1]

/** A writable stream whose buffer is "full" whenever `full` is set. */
class FakeSink extends EventTarget implements FrameSink {
  sent: Uint8Array[] = []
  full = false
  writableNeedsDrain = false
  status = 'open'
  listeners = 0

  send (data: Uint8Array | Uint8ArrayList): boolean {
    if (this.status !== 'open') throw new Error('closed')
    this.sent.push(data instanceof Uint8Array ? data : data.subarray())
    if (this.full) this.writableNeedsDrain = true
    return !this.writableNeedsDrain
  }

  drain (): void {
    this.writableNeedsDrain = false
    this.dispatchEvent(new Event('drain'))
  }

  override addEventListener (type: string, listener: Listener): void {
    this.listeners++
    super.addEventListener(type, listener)
  }

  override removeEventListener (type: string, listener: Listener): void {
    this.listeners--
    super.removeEventListener(type, listener)
  }
}

describe('writeFrames', () => {
  const frame = encodePiece(1, 2, new Uint8Array(100))

  it('sends every chunk of a frame at once, then waits for drain when the stream filled', async () => {
    const sink = new FakeSink()
    sink.full = true
    let done = false
    const write = writeFrames(sink, frame).then(() => { done = true })
    assert.deepEqual(sink.sent, frame)
    await sleep(5)
    assert.equal(done, false)
    sink.full = false
    sink.drain()
    await write
    assert.equal(sink.listeners, 0)
  })

  it('resolves at once while the stream has room', async () => {
    const sink = new FakeSink()
    await writeFrames(sink, frame)
    assert.deepEqual(sink.sent, frame)
  })

  it('waits before sending when the stream already needs a drain', async () => {
    const sink = new FakeSink()
    sink.writableNeedsDrain = true
    const write = writeFrames(sink, frame)
    await sleep(5)
    assert.deepEqual(sink.sent, [])
    sink.drain()
    await write
    assert.deepEqual(sink.sent, frame)
  })

  it('rejects with StreamClosedError when the stream closes while waiting', async () => {
    const sink = new FakeSink()
    sink.full = true
    const write = writeFrames(sink, frame)
    const cause = new Error('reset')
    sink.dispatchEvent(Object.assign(new Event('close'), { error: cause }))
    await assert.rejects(write, (err: Error) => err instanceof StreamClosedError && err.cause === cause)
    assert.equal(sink.listeners, 0)
    sink.status = 'reset'
    await assert.rejects(writeFrames(sink, frame), StreamClosedError)
  })

  it('rejects with AbortedError on abort and removes its listeners', async () => {
    const sink = new FakeSink()
    sink.full = true
    const controller = new AbortController()
    const write = writeFrames(sink, frame, controller.signal)
    controller.abort()
    await assert.rejects(write, { name: 'AbortedError' })
    assert.equal(sink.listeners, 0)
    await assert.rejects(writeFrames(new FakeSink(), frame, controller.signal), { name: 'AbortedError' })
  })

  it('never interleaves concurrent writers inside a frame', async () => {
    const sink = new FakeSink()
    const messages: Message[] = []
    const writers = [0, 1, 2].map(async w => {
      for (let i = 0; i < 20; i++) {
        sink.full = i % 3 === 0
        const msg: Message = { type: 'PIECE', requestId: w, index: i }
        messages.push(msg)
        await writeFrames(sink, encodeFrame(msg, new Uint8Array(10 + i).fill(w)))
      }
    })
    const drainer = setInterval(() => { sink.full = false; sink.drain() }, 1)
    await Promise.all(writers)
    clearInterval(drainer)
    const frames = decoder().push(concat(sink.sent))
    assert.equal(frames.length, 60)
    for (const f of frames) {
      assert.equal(f.message.type, 'PIECE')
      assert.ok(f.payload?.every(b => b === (f.message as { requestId: number }).requestId))
    }
  })
})

describe('readFrames + writeFrames over a libp2p v3 stream pair', () => {
  it('carries frames intact under backpressure and a slow reader', async () => {
    const [outbound, inbound] = await streamPair({ capacity: 2, delay: 1 })
    // compile-time check: a libp2p Stream is both a FrameSink and a FrameSource
    const sink: FrameSink = outbound
    const source: FrameSource = inbound
    let drains = 0
    outbound.addEventListener('drain', () => { drains++ })
    const piece = Uint8Array.from({ length: 256 * 1024 }, (_, i) => i % 251)
    const sent: Message[] = [
      { type: 'HELLO', contentId: 'bagaaiera', pieceCount: 8, bitfield: Uint8Array.from([0xf0]), listenAddrs: ['/ip4/127.0.0.1/tcp/1'] },
      ...Array.from({ length: 8 }, (_, i): Message => ({ type: 'PIECE', requestId: i, index: i })),
      { type: 'HAVE', index: 7 }
    ]
    const reader = (async () => {
      const frames: Frame[] = []
      for await (const f of readFrames(source, new FrameDecoder({ maxPayload: piece.length }), AbortSignal.timeout(5000))) {
        frames.push(f)
        await sleep(2)
      }
      return frames
    })()
    for (const msg of sent) await writeFrames(sink, encodeFrame(msg, msg.type === 'PIECE' ? piece : undefined), AbortSignal.timeout(5000))
    await outbound.close()
    const frames = await reader
    assert.deepEqual(frames.map(f => f.message), sent.map(m => m.type === 'PIECE' ? { ...m, payloadLength: piece.length } : m))
    for (const f of frames) if (f.payload !== undefined) assert.deepEqual(f.payload, piece)
    assert.ok(drains > 0, 'the writer had to wait for drain')
  })
})
