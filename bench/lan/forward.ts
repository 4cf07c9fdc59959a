/**
 * A plain TCP relay: accept on `listenHost:listenPort`, pipe each connection
 * to `targetHost:targetPort`. Used inside a LAN namespace to expose a
 * loopback-only test server (the counting origin, the malicious peer) on the
 * namespace's LAN address.
 */
import { connect, createServer, type Server } from 'node:net'

export async function relay (listenHost: string, listenPort: number, targetHost: string, targetPort: number): Promise<Server> {
  const server = createServer({ noDelay: true }, (inbound) => {
    const outbound = connect({ host: targetHost, port: targetPort, noDelay: true })
    inbound.pipe(outbound)
    outbound.pipe(inbound)
    const close = (): void => { inbound.destroy(); outbound.destroy() }
    inbound.on('error', close).on('close', close)
    outbound.on('error', close).on('close', close)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listenPort, listenHost, () => { resolve() })
  })
  return server
}
