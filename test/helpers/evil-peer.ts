/**
 * A malicious doswarm peer for attack tests (THREATS T1, T2, C5, R4, R7, R8).
 * It is a real libp2p node built with the library's own factory
 * (`createP2PNode`: TCP + Noise + yamux, 127.0.0.1 only, mDNS off) that
 * speaks `/doswarm/swarm/1.0.0` through `src/protocol` — and lies. Frames no
 * conforming encoder would build (a bad bitfield, a 1 GiB length prefix) are
 * written byte by byte from the wire format of docs/PROTOCOL.md §2–3.
 *
 * As a *responder* (an honest node dials it as a static peer and opens the
 * session) it answers the HELLO and then REQUESTs according to its
 * {@link EvilBehaviour}. As an *opener* ({@link EvilPeer.openSession}) it
 * dials an honest node and lets the test script the abuse (request floods,
 * HAVE floods, oversized frames).
 *
 * ```ts
 * const evil = await startEvilPeer({ dir, manifest, data, behaviour: { kind: 'corrupt-all' } })
 * const node = await fx.node({ peers: [evil.addr] })
 * …
 * await evil.stop()
 * ```
 */
import '../../src/polyfill.js'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import type { Connection, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { pieceCount, pieceLength, pieceOffset, type Manifest } from '../../src/manifest/index.js'
import { createP2PNode, type P2PNode } from '../../src/node/libp2p.js'
import {
  FrameDecoder, MAX_PAYLOAD_LENGTH, PROTOCOL_ID, encodeFrame, encodePiece, readFrames, writeFrames,
  type Frame, type HelloMessage, type Message
} from '../../src/protocol/index.js'
import { uvarintLength, writeUvarint } from '../../src/protocol/wire.js'

/** How the evil peer misbehaves when an honest node opens a session to it. */
export type EvilBehaviour =
  /**
   * T1: every requested piece is garbage of the right length. With `burst`,
   * answers are held back until that many requests are waiting, then sent
   * back to back in one write, so several bad pieces reach the victim at once.
   */
  | { kind: 'corrupt-all', burst?: number }
  /** T1: pieces whose index is a multiple of `every` (default 5) get one byte flipped; the rest are honest. Needs `data`. */
  | { kind: 'corrupt-some', every?: number }
  /** T2: advertises every piece, then never answers a REQUEST (the stream stays open). */
  | { kind: 'claim-all-stall' }
  /** T2: a HELLO whose chunk map is malformed (hand-encoded: encodeFrame refuses these). */
  | { kind: 'malformed-map', map: MalformedMap }
  /** T2: a valid HELLO (full map), then `HAVE` of an index ≥ pieceCount. */
  | { kind: 'have-out-of-range' }
  /**
   * C5: answers the first REQUEST of a session with a PIECE header and half
   * its payload, then resets the stream, kills the connection, or closes the
   * connection gracefully (every stream ends cleanly, inside the frame). Needs `data`.
   */
  | { kind: 'disconnect-mid-piece', how: 'reset-stream' | 'abort-connection' | 'close-connection' }
  /** R4: a 1 GiB length prefix (`80 80 80 80 04`) instead of the HELLO, or right after a valid one. */
  | { kind: 'oversized-prefix', when: 'instead-of-hello' | 'after-hello' }
  /** R8: a valid HELLO with an empty map, then `count` HAVEs of piece `index` in one burst; honest answers after. Needs `data`. */
  | { kind: 'have-flood', count: number, index?: number }
  /** Control: a truthful seeder. Needs `data`. */
  | { kind: 'honest' }
  /** Not an attack: a seeder too loaded to serve, answering every REQUEST with REJECT BUSY. */
  | { kind: 'busy' }
  /**
   * Resets every session opened to it, as a node that does not share the
   * content does (PROTOCOL.md §1): for tests where only the sessions the evil
   * peer opens itself (openSession) should exist.
   */
  | { kind: 'opener-only' }

/**
 * Ways to break a HELLO's chunk map (PROTOCOL.md §2, HELLO): a bitfield one
 * byte short or long (payloadLength ≠ ceil(pieceCount / 8)), spare bits set
 * past pieceCount, or a pieceCount that is not the content's.
 */
export type MalformedMap = 'short' | 'long' | 'spare-bits' | 'wrong-piece-count'

export interface EvilPeerInit {
  /** parent directory for the node's state (peer key) */
  dir: string
  manifest: Manifest
  /** source address of its outgoing connections (another loopback "host"); @default the system's choice */
  localAddress?: string
  /** the real file, for behaviours that serve some honest bytes */
  data?: Uint8Array
  behaviour: EvilBehaviour
}

/** What the evil peer saw and did, for assertions. */
export interface EvilStats {
  /** sessions honest nodes opened to it */
  sessions: number
  /** connections opened (either direction), counted from 'connection:open' */
  connections: number
  /** piece indices requested of it, in order */
  requests: number[]
  /** PIECE frames sent with the right bytes */
  honestPieces: number
  /** PIECE frames sent with wrong bytes */
  badPieces: number
  /** PIECE frames cut off mid-payload */
  cutPieces: number
}

/** One session the evil peer opened to an honest node. */
export interface EvilSession {
  stream: Stream
  connection: Connection
  /** the honest node's HELLO, or undefined if it reset the stream instead */
  remoteHello: HelloMessage | undefined
  /** frames after the HELLO */
  frames: AsyncGenerator<Frame, void, undefined>
  send: (msg: Message) => Promise<void>
  /** raw bytes, for frames no encoder would produce */
  sendRaw: (...chunks: Uint8Array[]) => Promise<void>
  /** resolves when the stream is closed or reset, by either side */
  closed: Promise<void>
  /** Read frames until the stream ends; counts by message type, and how it ended. */
  drain: () => Promise<{ counts: Record<string, number>, error?: unknown }>
}

export interface EvilPeer {
  node: P2PNode
  peerId: string
  /** loopback listen address with /p2p/ id */
  addr: string
  stats: EvilStats
  /** Dial `addr`: resolves with the open connection, or rejects if refused. */
  connect: (addr: string, timeoutMs?: number) => Promise<Connection>
  /**
   * Try to get back in after a ban: true when refused (the dial fails, or the
   * connection is closed within `ms`), false if a connection stays open.
   */
  reconnect: (addr: string, ms?: number) => Promise<boolean>
  /**
   * Dial `addr` (if needed), open a swarm stream, send HELLO (empty map unless
   * `bitfield`, advertising `listenAddrs`; raw `first` bytes instead when
   * given) and read the reply.
   */
  openSession: (addr: string, opts?: { bitfield?: Uint8Array, first?: Uint8Array[], listenAddrs?: string[], timeoutMs?: number }) => Promise<EvilSession>
  stop: () => Promise<void>
}

/** The header of a HELLO as bytes: fields 1, 2, 6, 7 (PROTOCOL.md §3), encoded by hand. */
export function rawHello (contentId: string, pieceCount: number, payloadLength: number): Uint8Array {
  const id = new TextEncoder().encode(contentId)
  const fields: number[] = [0x08, 0x01] // field 1 (type), varint: HELLO
  const varint = (tag: number, n: number): void => {
    const b = new Uint8Array(uvarintLength(n))
    writeUvarint(n, b, 0)
    fields.push(tag, ...b)
  }
  if (payloadLength > 0) varint(0x10, payloadLength) // field 2 (payloadLength)
  fields.push(0x32) // field 6 (contentId), length-delimited
  const len = new Uint8Array(uvarintLength(id.length))
  writeUvarint(id.length, len, 0)
  fields.push(...len, ...id)
  varint(0x38, pieceCount) // field 7 (pieceCount)
  const header = Uint8Array.from(fields)
  const prefix = new Uint8Array(uvarintLength(header.length))
  writeUvarint(header.length, prefix, 0)
  const out = new Uint8Array(prefix.length + header.length)
  out.set(prefix, 0)
  out.set(header, prefix.length)
  return out
}

/** A 1 GiB header length prefix (PROTOCOL.md §7: rejected at its second byte). */
export const ONE_GIB_PREFIX = Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x04])

/** A full chunk map of `n` pieces, spare bits clear. */
export function fullBitfield (n: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(n / 8)).fill(0xff)
  if (n % 8 !== 0) out[out.length - 1] = (0xff << (8 - (n % 8))) & 0xff
  return out
}

/** The bytes of HELLO + map for a {@link MalformedMap}. */
export function malformedHello (m: Manifest, map: MalformedMap): Uint8Array[] {
  const n = pieceCount(m)
  const good = fullBitfield(n)
  switch (map) {
    case 'short': return [rawHello(m.contentId, n, good.length - 1), good.subarray(0, good.length - 1)]
    case 'long': return [rawHello(m.contentId, n, good.length + 1), Uint8Array.from([...good, 0xff])]
    case 'spare-bits': {
      if (n % 8 === 0) throw new Error('spare-bits needs a piece count that is not a multiple of 8')
      const bad = Uint8Array.from(good)
      bad[bad.length - 1] = 0xff
      return [rawHello(m.contentId, n, bad.length), bad]
    }
    case 'wrong-piece-count': {
      // a well-formed map for one piece more than the content has
      const more = fullBitfield(n + 1)
      return [rawHello(m.contentId, n + 1, more.length), more]
    }
  }
}

/**
 * A header-only frame of varint fields, hand-encoded (PROTOCOL.md §3: tag =
 * field number << 3, wire type 0) so that values encodeFrame refuses — an
 * index ≥ 2^20, say — can be sent. `fields` are [field number, value] pairs.
 */
export function rawFrame (fields: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const bytes: number[] = []
  for (const [field, value] of fields) {
    const v = new Uint8Array(uvarintLength(value))
    writeUvarint(value, v, 0)
    bytes.push(field << 3, ...v)
  }
  const prefix = new Uint8Array(uvarintLength(bytes.length))
  writeUvarint(bytes.length, prefix, 0)
  return Uint8Array.from([...prefix, ...bytes])
}

/** HAVE of `index` (any uint32). */
export function rawHave (index: number): Uint8Array { return rawFrame([[1, 2], [4, index]]) }

/** REQUEST `requestId` for `index` (any uint32s). */
export function rawRequest (requestId: number, index: number): Uint8Array { return rawFrame([[1, 3], [3, requestId], [4, index]]) }

/** Frames back to back in one buffer, so they reach the peer in one burst. */
export function concat (frames: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((s, f) => s + f.length, 0))
  let at = 0
  for (const f of frames) { out.set(f, at); at += f.length }
  return out
}

export async function startEvilPeer (init: EvilPeerInit): Promise<EvilPeer> {
  const { manifest, behaviour } = init
  const n = pieceCount(manifest)
  const stateDir = await mkdtemp(join(init.dir, 'evil-'))
  const node = await createP2PNode({ stateDir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, log: () => {}, ...(init.localAddress !== undefined ? { dialFrom: init.localAddress } : {}) })
  const stats: EvilStats = { sessions: 0, connections: 0, requests: [], honestPieces: 0, badPieces: 0, cutPieces: 0 }
  node.addEventListener('connection:open', () => { stats.connections++ })

  const real = (index: number): Uint8Array => {
    if (init.data === undefined) throw new Error(`behaviour ${behaviour.kind} needs the file data`)
    const start = pieceOffset(manifest, index)
    return init.data.subarray(start, start + pieceLength(manifest, index))
  }
  const hello = (bitfield: Uint8Array): Message => ({
    type: 'HELLO', contentId: manifest.contentId, pieceCount: n, bitfield, listenAddrs: []
  })

  /** Encoded PIECE frames held back for a burst, per stream. */
  const heldBack = new WeakMap<Stream, Uint8Array[]>()

  /** Answer one REQUEST according to the behaviour. */
  const answer = async (stream: Stream, conn: Connection, requestId: number, index: number): Promise<void> => {
    stats.requests.push(index)
    switch (behaviour.kind) {
      case 'corrupt-all': {
        const junk = new Uint8Array(pieceLength(manifest, index)).fill(0xa5 ^ (index & 0xff))
        stats.badPieces++
        const held = heldBack.get(stream) ?? []
        held.push(concat(encodePiece(requestId, index, junk)))
        if (held.length < (behaviour.burst ?? 1)) { heldBack.set(stream, held); return }
        heldBack.delete(stream)
        await writeFrames(stream, [concat(held)])
        return
      }
      case 'corrupt-some': {
        const every = behaviour.every ?? 5
        const bytes = Uint8Array.from(real(index))
        if (index % every === 0) { bytes[bytes.length >> 1] ^= 0x01; stats.badPieces++ } else stats.honestPieces++
        await writeFrames(stream, encodePiece(requestId, index, bytes))
        return
      }
      case 'busy':
        await writeFrames(stream, encodeFrame({ type: 'REJECT', requestId, index, reason: 'BUSY' }))
        return
      case 'claim-all-stall':
      case 'malformed-map':
      case 'oversized-prefix':
      case 'opener-only':
        return // silence: the request is never answered
      case 'disconnect-mid-piece': {
        const [head, body] = encodePiece(requestId, index, real(index))
        stats.cutPieces++
        await writeFrames(stream, [head, body.subarray(0, body.length >> 1)])
        // let the half piece reach the wire before cutting it off
        await new Promise(resolve => setTimeout(resolve, 50))
        if (behaviour.how === 'reset-stream') stream.abort(new Error('evil: reset mid-piece'))
        else if (behaviour.how === 'abort-connection') conn.abort(new Error('evil: connection killed mid-piece'))
        else await conn.close().catch(() => { conn.abort(new Error('evil: graceful close failed')) })
        return
      }
      case 'have-out-of-range':
      case 'have-flood':
      case 'honest':
        stats.honestPieces++
        await writeFrames(stream, encodePiece(requestId, index, real(index)))
    }
  }

  /** The responder side: an honest node opened a session to us. */
  const respond = async (stream: Stream, conn: Connection): Promise<void> => {
    stats.sessions++
    if (behaviour.kind === 'opener-only') { stream.abort(new Error('evil: content not shared here')); return }
    const frames = readFrames(stream, new FrameDecoder({ maxPayload: MAX_PAYLOAD_LENGTH }))
    const first = await frames.next()
    if (first.done === true || first.value.message.type !== 'HELLO') { stream.abort(new Error('evil: no HELLO')); return }
    switch (behaviour.kind) {
      case 'malformed-map':
        await writeFrames(stream, malformedHello(manifest, behaviour.map))
        break
      case 'oversized-prefix':
        if (behaviour.when === 'after-hello') await writeFrames(stream, encodeFrame(hello(fullBitfield(n))))
        await writeFrames(stream, [ONE_GIB_PREFIX])
        break
      case 'have-out-of-range':
        await writeFrames(stream, [...encodeFrame(hello(fullBitfield(n))), rawHave(n)])
        break
      case 'have-flood': {
        await writeFrames(stream, encodeFrame(hello(new Uint8Array(Math.ceil(n / 8)))))
        const one = rawHave(behaviour.index ?? 0)
        await writeFrames(stream, [concat(Array.from({ length: behaviour.count }, () => one))])
        break
      }
      default:
        await writeFrames(stream, encodeFrame(hello(fullBitfield(n))))
    }
    for await (const { message } of frames) {
      if (message.type === 'REQUEST') await answer(stream, conn, message.requestId, message.index)
    }
  }

  await node.handle(PROTOCOL_ID, (stream: Stream, conn: Connection) => {
    void respond(stream, conn).catch(() => { stream.abort(new Error('evil: session ended')) })
  }, { maxInboundStreams: 16, maxOutboundStreams: 16 })

  const connect = async (addr: string, timeoutMs = 5000): Promise<Connection> => {
    const conn = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(timeoutMs) })
    if (conn.status !== 'open') throw new Error(`connection to ${addr} is ${conn.status}`)
    return conn
  }

  const reconnect = async (addr: string, ms = 5000): Promise<boolean> => {
    let conn: Connection
    try {
      conn = await connect(addr, ms)
    } catch {
      return true
    }
    const deadline = performance.now() + ms
    while (conn.status === 'open' && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    return conn.status !== 'open'
  }

  const openSession = async (addr: string, opts: { bitfield?: Uint8Array, first?: Uint8Array[], listenAddrs?: string[], timeoutMs?: number } = {}): Promise<EvilSession> => {
    const timeoutMs = opts.timeoutMs ?? 5000
    const connection = await connect(addr, timeoutMs)
    const stream = await connection.newStream(PROTOCOL_ID, { signal: AbortSignal.timeout(timeoutMs) })
    const closed = new Promise<void>(resolve => {
      if (stream.status !== 'open') resolve()
      stream.addEventListener('close', () => { resolve() }, { once: true })
    })
    const frames = readFrames(stream, new FrameDecoder({ maxPayload: manifest.pieceSize }))
    const send = async (msg: Message): Promise<void> => { await writeFrames(stream, encodeFrame(msg)) }
    const sendRaw = async (...chunks: Uint8Array[]): Promise<void> => { await writeFrames(stream, chunks) }
    const drain = async (): Promise<{ counts: Record<string, number>, error?: unknown }> => {
      const counts: Record<string, number> = {}
      try {
        for await (const { message } of frames) counts[message.type] = (counts[message.type] ?? 0) + 1
        return { counts }
      } catch (error) {
        return { counts, error }
      }
    }
    if (opts.first !== undefined) await sendRaw(...opts.first)
    else await send({ ...hello(opts.bitfield ?? new Uint8Array(Math.ceil(n / 8))), listenAddrs: opts.listenAddrs ?? [] } as Message)
    let remoteHello: HelloMessage | undefined
    try {
      const first = await frames.next()
      if (first.done !== true && first.value.message.type === 'HELLO') remoteHello = first.value.message
    } catch {
      // reset instead of a HELLO: the honest node does not share the content (or refused us)
    }
    return { stream, connection, remoteHello, frames, send, sendRaw, closed, drain }
  }

  const ours = node.getMultiaddrs().find(a => a.toString().startsWith('/ip4/127.0.0.1/'))
  if (ours === undefined) throw new Error('evil peer has no loopback address')
  return {
    node,
    peerId: node.peerId.toString(),
    addr: ours.toString(),
    stats,
    connect,
    reconnect,
    openSession,
    stop: async () => { await node.stop() }
  }
}
