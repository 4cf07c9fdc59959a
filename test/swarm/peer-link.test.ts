/**
 * PeerLink without a network: a scripted frame source and a recording
 * stream. What crosses a real wire is covered by swarm.test.ts; this checks
 * what the link hands the scheduler for each PIECE frame.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FrameDecoder } from '../../src/protocol/decode.js'
import type { Frame } from '../../src/protocol/message.js'
import { messageContext } from '../../src/protocol/validate.js'
import { MAX_BATCH_BYTES, PeerLink, type LinkStream, type PeerLinkHost } from '../../src/swarm/peer-link.js'
import { UploadScheduler } from '../../src/swarm/upload.js'
import { Bitfield } from '../../src/util/bitfield.js'
import type { Manifest } from '../../src/manifest/index.js'

const PIECE = 1024

/** Frames pushed by the test, read by the link. */
function frameQueue (): { frames: AsyncIterator<Frame>, push: (f: Frame) => void, end: () => void } {
  const queue: Array<Frame | null> = []
  let wake: (() => void) | undefined
  return {
    frames: {
      async next (): Promise<IteratorResult<Frame>> {
        for (;;) {
          const f = queue.shift()
          if (f === null) return { done: true, value: undefined }
          if (f !== undefined) return { done: false, value: f }
          await new Promise<void>(resolve => { wake = resolve })
        }
      }
    },
    push: f => { queue.push(f); wake?.() },
    end: () => { queue.push(null); wake?.() }
  }
}

/** A stream that decodes what the link sends, and counts its writes. */
function recordingStream (maxPayload = PIECE): { stream: LinkStream, sent: Frame[], next: () => Promise<Frame>, writes: () => number } {
  const decoder = new FrameDecoder({ maxPayload })
  const sent: Frame[] = []
  let writes = 0
  let waiter: ((f: Frame) => void) | undefined
  const stream: LinkStream = {
    send: (data) => {
      writes++
      for (const f of decoder.push(data)) { const w = waiter; waiter = undefined; if (w !== undefined) w(f); else sent.push(f) }
      return true
    },
    status: 'open',
    addEventListener: () => {},
    removeEventListener: () => {},
    close: async () => {},
    abort: () => {}
  }
  return {
    stream,
    sent,
    writes: () => writes,
    next: async () => await new Promise<Frame>(resolve => {
      const f = sent.shift()
      if (f !== undefined) resolve(f); else waiter = resolve
    })
  }
}

function makeLink (serve?: (index: number) => Uint8Array | Promise<Uint8Array>, pieceSize = PIECE, hostOver: Partial<PeerLinkHost> = {}): { link: PeerLink, q: ReturnType<typeof frameQueue>, s: ReturnType<typeof recordingStream> } {
  const manifest = { size: 4 * pieceSize, pieceSize } as unknown as Manifest
  const ctx = messageContext(manifest)
  const noop = (): void => {}
  const have = new Bitfield(ctx.pieceCount)
  if (serve !== undefined) for (let i = 0; i < ctx.pieceCount; i++) have.set(i)
  const host: PeerLinkHost = {
    manifest,
    ctx,
    have,
    read: async (index) => { if (serve === undefined) throw new Error('nothing to serve'); return await serve(index) },
    uploads: new UploadScheduler(),
    requestTimeoutMs: 10_000,
    onHave: noop,
    onClaim: noop,
    onRelease: noop,
    onPeers: noop,
    onUploaded: noop,
    onViolation: (_l, err) => { throw err },
    onClosed: noop,
    ...hostOver
  }
  const q = frameQueue()
  const s = recordingStream(pieceSize)
  const all = new Bitfield(ctx.pieceCount)
  for (let i = 0; i < ctx.pieceCount; i++) all.set(i)
  const link = new PeerLink({
    stream: s.stream,
    peerId: 'peerA',
    outbound: true,
    host,
    hello: { type: 'HELLO', contentId: 'x', pieceCount: ctx.pieceCount, bitfield: all.bytes, listenAddrs: [] },
    frames: q.frames
  })
  return { link, q, s }
}

describe('PeerLink: PIECE payloads', () => {
  it('hands over a payload the decoder assembled as owned, and a view of a chunk as not owned', async () => {
    const { link, q, s } = makeLink()
    const running = link.run()
    const ac = new AbortController()
    const got = link.fetch(0, 2, ac.signal)
    const first = got.next()
    const req0 = (await s.next()).message
    assert.equal(req0.type, 'REQUEST')
    const bytes0 = new Uint8Array(PIECE).fill(1)
    q.push({ message: { type: 'PIECE', requestId: (req0 as { requestId: number }).requestId, index: 0 }, payload: bytes0, owned: true })
    const p0 = (await first).value
    assert.equal(p0?.bytes, bytes0)
    assert.equal(p0?.owned, true)

    const second = got.next()
    const req1 = (await s.next()).message as { requestId: number }
    const chunk = new Uint8Array(PIECE + 10).fill(2)
    q.push({ message: { type: 'PIECE', requestId: req1.requestId, index: 1 }, payload: chunk.subarray(5, 5 + PIECE) })
    const p1 = (await second).value
    assert.equal(p1?.bytes.buffer, chunk.buffer)
    assert.equal(p1?.owned, undefined, 'a view of a received chunk must be copied by whoever keeps it')
    q.end()
    await running
    link.close()
  })
})

describe('PeerLink: writes', () => {
  it('sends the frames queued in one tick in one stream write, in order', async () => {
    const { link, s } = makeLink()
    const sends = [0, 1, 2, 3].map(async index => { await link.send({ type: 'HAVE', index }) })
    await Promise.all(sends)
    assert.equal(s.writes(), 1, 'four HAVEs in one tick: one write')
    for (const index of [0, 1, 2, 3]) assert.deepEqual((await s.next()).message, { type: 'HAVE', index })
    await link.send({ type: 'HAVE', index: 1 })
    assert.equal(s.writes(), 2, 'a later tick: a write of its own')
    link.close()
  })

  it('writes a PIECE header and its payload together', async () => {
    const payload = (index: number): Uint8Array => new Uint8Array(PIECE).fill(index + 1)
    const { link, q, s } = makeLink(payload)
    const running = link.run()
    q.push({ message: { type: 'REQUEST', requestId: 7, index: 2 } })
    const f = await s.next()
    assert.deepEqual(f.message, { type: 'PIECE', requestId: 7, index: 2, payloadLength: PIECE })
    assert.deepEqual(f.payload, payload(2))
    assert.equal(s.writes(), 1, 'header and payload: one write')
    q.end()
    await running
    link.close()
  })

  it('does not pile large pieces into one write', async () => {
    const size = 2 * MAX_BATCH_BYTES
    const payload = (index: number): Uint8Array => new Uint8Array(size).fill(index + 1)
    // both reads finish at the same moment: the two uploads write in the same tick
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    let reads = 0
    const { link, q, s } = makeLink(async (index) => { reads++; await gate; return payload(index) }, size)
    const running = link.run()
    q.push({ message: { type: 'REQUEST', requestId: 1, index: 0 } })
    q.push({ message: { type: 'REQUEST', requestId: 2, index: 1 } })
    while (reads < 2) await new Promise(resolve => setImmediate(resolve))
    open()
    const f0 = await s.next()
    const f1 = await s.next()
    assert.deepEqual([f0, f1].map(f => f.message.type), ['PIECE', 'PIECE'])
    assert.deepEqual(f1.payload, payload(1))
    assert.equal(s.writes(), 2, 'one write per piece')
    q.end()
    await running
    link.close()
  })

  it('serves a peer\'s queued requests for the pieces this node has sent least often first, and counts every upload it starts', async () => {
    const payload = (index: number): Uint8Array => new Uint8Array(PIECE).fill(index + 1)
    const started = [5, 0, 3, 0]
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    let reads = 0
    const { link, q, s } = makeLink(async (index) => { if (reads++ === 0) await gate; return payload(index) }, PIECE, {
      uploads: new UploadScheduler(1),
      uploadRank: i => started[i],
      onUploadStart: i => { started[i]++ }
    })
    const running = link.run()
    // piece 0 takes the one upload slot; 2 and then 1 wait behind it
    q.push({ message: { type: 'REQUEST', requestId: 1, index: 0 } })
    while (reads < 1) await new Promise(resolve => setImmediate(resolve))
    q.push({ message: { type: 'REQUEST', requestId: 2, index: 2 } })
    q.push({ message: { type: 'REQUEST', requestId: 3, index: 1 } })
    for (let k = 0; k < 5; k++) await new Promise(resolve => setImmediate(resolve))
    open()
    const order = [(await s.next()).message, (await s.next()).message, (await s.next()).message].map(m => (m as { index: number }).index)
    assert.deepEqual(order, [0, 1, 2], 'piece 1 (sent 0 times before) overtakes piece 2 (sent 3 times)')
    assert.deepEqual(started, [6, 1, 4, 0])
    q.end()
    await running
    link.close()
  })
})
