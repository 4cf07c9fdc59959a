/**
 * The scheduler's reasons for cutting an HTTP request reach the download's
 * stats (httpCut), against a real HTTP origin on port 0; whole origin pieces
 * that had already come from a peer are counted as httpBytesDuplicate.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { HttpSource } from '../../src/origin/index.js'
import { Downloader, type StoreLike } from '../../src/swarm/download.js'
import type { PieceData, PieceSource } from '../../src/source/index.js'
import { FAST, testData } from '../helpers/origin-fixtures.js'
import { memoryStore as sharedMemoryStore, runDownload } from '../helpers/scheduler-fixtures.js'
import { startOrigin } from '../helpers/origin-server.js'

const PIECE = 16 * 1024
const PIECES = 8

function memoryStore (): StoreLike { return sharedMemoryStore(PIECES, PIECE) }

async function run (d: Downloader): Promise<ReturnType<Downloader['stats']>> { return await runDownload(d) }

test('a claim clash that cuts an HTTP request is counted as claim-clash with the bytes never read', async () => {
  const data = testData(PIECES * PIECE, 3)
  let n = 0
  // the first request delivers one piece and then goes silent (long idle timeout: no stall)
  const origin = await startOrigin({ data, behaviour: () => (++n === 1 ? { kind: 'stall', afterBytes: PIECE } : undefined) })
  const store = memoryStore()
  const http = new HttpSource({ url: origin.url, manifest: store.manifest, ...FAST, connections: 1, idleTimeoutMs: 30_000, minRateBytesPerSec: 0 })
  try {
    let clashed = false
    const d: Downloader = new Downloader({
      store,
      sources: [http],
      pollMs: 10,
      random: () => 0, // the picker starts at piece 0: one run of the whole file
      onProgress: () => { if (!clashed) { clashed = true; d.abortHttp([3]) } }
    })
    const st = await run(d)
    assert.equal(st.bytesFromHttp, PIECES * PIECE)
    assert.equal(st.httpCut['claim-clash'].requests, 1)
    assert.equal(st.httpCut['claim-clash'].bytesDiscarded, 0)
    assert.equal(st.httpCut['claim-clash'].bytesUnread, (PIECES - 1) * PIECE)
    assert.equal(st.httpCut['stall-idle'].requests + st.httpCut['stall-rate'].requests + st.httpCut.error.requests + st.httpCut.ended.requests, 0)
    assert.equal(st.httpBytesDuplicate, 0)
  } finally {
    await http.close()
    await origin.close()
  }
})

test('an origin piece that a peer delivered first is counted in httpBytesDuplicate', async () => {
  const store = memoryStore()
  // an origin stand-in that delivers piece 0 only after the peer has delivered it
  let peerDone!: () => void
  const peerDelivered = new Promise<void>(resolve => { peerDone = resolve })
  const http: PieceSource = {
    id: 'http:scripted',
    kind: 'http',
    maxConcurrent: 1,
    has: () => true,
    async * fetch (first: number, count: number): AsyncGenerator<PieceData> {
      for (let i = first; i < first + count; i++) {
        if (i === 0) await peerDelivered
        yield { index: i, bytes: new Uint8Array(PIECE) }
      }
    }
  }
  const peer: PieceSource = {
    id: 'peer:scripted',
    kind: 'peer',
    has: (i) => i === 0,
    async * fetch (first: number): AsyncGenerator<PieceData> {
      yield { index: first, bytes: new Uint8Array(PIECE) }
      setTimeout(peerDone, 20)
    }
  }
  // the peer is asked for piece 0 (peers first); the origin's run starts at 0 too only in the endgame:
  // give the origin the whole file from 0 by letting the peer join after the origin's fetch began
  const d = new Downloader({ store, sources: [http], pollMs: 10, random: () => 0 })
  setTimeout(() => { d.addSource(peer); d.picker.addAvailable(0) }, 30)
  const st = await run(d)
  assert.equal(st.httpBytesDuplicate, PIECE)
  assert.equal(st.bytesFromPeers, PIECE)
  assert.equal(st.bytesFromHttp, (PIECES - 1) * PIECE)
})
