/**
 * An attacker for THREATS R5/R6: a real libp2p node (TCP + Noise + yamux, on
 * 127.0.0.1) that, besides speaking yamux normally, can write raw yamux
 * frames of its own making into the Noise channel of a connection — a DATA
 * frame header claiming 0xFFFFFFFF bytes, a stream of pings, … Its muxer
 * factory wraps the real yamux and keeps each connection's Noise-level
 * message stream (`maConn`), so `rawSend` bytes go out encrypted and framed
 * exactly where yamux's own frames go.
 */
import '../../src/polyfill.js'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Libp2p, StreamMuxerFactory } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export interface RawYamuxPeer {
  node: Libp2p
  /** Dial `addr`; resolves with the connection and a raw writer below yamux. */
  connect: (addr: string, opts?: { force?: boolean }) => Promise<RawConnection>
  stop: () => Promise<void>
}

export interface RawConnection {
  connection: Connection
  /** Write bytes straight into the Noise channel; false when the channel asks to wait for 'drain'. */
  rawSend: (bytes: Uint8Array) => boolean
  /** Resolves when the channel can take more (or has closed). */
  drained: () => Promise<void>
  /** true once the connection is closed (by either side) */
  closed: () => boolean
  /** Stop reading from the connection (the socket is paused: a peer that never reads). */
  pause: () => void
}

/** yamux header: version 0, type, flags, stream id, length (big-endian). */
export function yamuxHeader (type: number, flags: number, streamId: number, length: number): Uint8Array {
  const h = new Uint8Array(12)
  const v = new DataView(h.buffer)
  h[0] = 0
  h[1] = type
  v.setUint16(2, flags)
  v.setUint32(4, streamId)
  v.setUint32(8, length)
  return h
}
export const YAMUX_DATA = 0
export const YAMUX_PING = 2
export const YAMUX_FLAG_SYN = 1

/** Start an attacker node on 127.0.0.1 (mDNS off, no services). */
export async function startRawYamuxPeer (opts: { yamuxFactory?: () => StreamMuxerFactory, localAddress?: string } = {}): Promise<RawYamuxPeer> {
  const captured = new WeakMap<object, any>()
  const inner = opts.yamuxFactory ?? yamux()
  const capturing = (): StreamMuxerFactory => {
    const factory = inner()
    const create = factory.createStreamMuxer.bind(factory)
    factory.createStreamMuxer = (maConn) => {
      const muxer = create(maConn)
      captured.set(muxer, maConn)
      return muxer
    }
    return factory
  }
  const node = await createLibp2p({
    // an attacker needs no listener; with localAddress its dials come from another loopback address (another "host")
    addresses: { listen: opts.localAddress === undefined ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp(opts.localAddress === undefined ? {} : { dialOpts: { localAddress: opts.localAddress } as any })],
    connectionManager: { maxConnections: 1000, maxParallelDials: 200 },
    connectionEncrypters: [noise()],
    streamMuxers: [capturing]
  })
  return {
    node,
    connect: async (addr, o = {}) => {
      const connection = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000), ...(o.force === true && { force: true }) })
      const maConn = captured.get((connection as unknown as { muxer: object }).muxer)
      if (maConn === undefined) throw new Error('no message stream captured for this connection')
      return {
        connection,
        rawSend: (bytes) => maConn.send(bytes) as boolean,
        drained: async () => {
          if (connection.status !== 'open') return
          await new Promise<void>(resolve => {
            const done = (): void => { clearInterval(poll); resolve() }
            maConn.addEventListener('drain', done, { once: true })
            // a closed channel never drains
            const poll = setInterval(() => { if (connection.status !== 'open') done() }, 50)
          })
        },
        closed: () => connection.status !== 'open',
        pause: () => { maConn.pause() }
      }
    },
    stop: async () => { await node.stop() }
  }
}

/** A fresh temp dir for a victim's state. */
export async function victimDir (): Promise<string> {
  const { tmpdir } = await import('node:os')
  return await mkdtemp(join(tmpdir(), 'doswarm-victim-'))
}
