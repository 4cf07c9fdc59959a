/** A test-only echo protocol over libp2p v3 streams (send with drain backpressure, read with for-await, half-close). */
import type { Libp2p } from '@libp2p/interface'

export const ECHO = '/doswarm-test/echo/1.0.0'

/** Serve ECHO on `n`: every byte read is written back. */
export async function echoServer (n: Libp2p<any>): Promise<void> {
  await n.handle(ECHO, async (stream) => {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      if (!stream.send(bytes)) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
    }
    await stream.close()
  }, { maxInboundStreams: 4 })
}

/** Send `payload` to `to`'s ECHO in 64 KiB writes and return what came back. */
export async function echo (from: Libp2p<any>, to: Libp2p<any>, payload: Uint8Array): Promise<Buffer> {
  const stream = await from.dialProtocol(to.getMultiaddrs(), ECHO, { signal: AbortSignal.timeout(5000) })
  const received: Buffer[] = []
  const reading = (async () => {
    for await (const chunk of stream) received.push(Buffer.from(chunk instanceof Uint8Array ? chunk : chunk.subarray()))
  })()
  for (let off = 0; off < payload.length; off += 64 * 1024) {
    if (!stream.send(payload.subarray(off, off + 64 * 1024))) {
      await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
    }
  }
  await stream.close()
  await reading
  return Buffer.concat(received)
}
