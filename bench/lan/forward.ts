/**
 * A plain TCP relay: accept on `listenHost:listenPort`, pipe each connection
 * to `targetHost:targetPort`. Used inside a LAN namespace to expose a
 * loopback-only test server (the counting origin, the malicious peer) on the
 * namespace's LAN address.
 *
 * It counts the bytes it read from the target and the bytes it handed to
 * the kernel on the client side: the counting origin counts what it wrote
 * to its loopback socket, and when a client aborts a response, what sat in
 * the loopback socket buffers and the relay's own buffers never reaches the
 * LAN — an artefact of the relay, not something a real origin would send.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface RelayCounters {
  /** bytes read from the target (the origin's responses) */
  fromTarget: number
  /** bytes handed to the kernel on client sockets (on their way onto the LAN) */
  toClients: () => number
}

export async function relay (listenHost: string, listenPort: number, targetHost: string, targetPort: number): Promise<Server & { counters: RelayCounters }> {
  const open = new Set<Socket>()
  let closedWritten = 0
  const counters: RelayCounters = {
    fromTarget: 0,
    toClients: () => closedWritten + [...open].reduce((s, x) => s + x.bytesWritten, 0)
  }
  const server = createServer({ noDelay: true }, (inbound) => {
    open.add(inbound)
    const outbound = connect({ host: targetHost, port: targetPort, noDelay: true })
    outbound.on('data', (c: Buffer) => { counters.fromTarget += c.length })
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    const close = (): void => { inbound.destroy(); outbound.destroy() }
    inbound.on('error', close).on('close', () => {
      if (open.delete(inbound)) closedWritten += inbound.bytesWritten
      close()
    })
    outbound.on('error', close).on('close', close)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, listenHost, () => { resolve() })
  })
  return Object.assign(server, { counters })
}
