/**
 * The mDNS repeat filter. mDNS itself needs multicast, which tests may not
 * send (README, network rule), so the service here is a stand-in that
 * dispatches 'peer' events the way @libp2p/mdns does; what is checked is
 * which of them reach libp2p's listeners.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { quietRepeats } from '../../src/node/quiet-discovery.js'

async function somePeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

/** A discovery service as far as libp2p sees it: an event target that announces peers. */
class FakeDiscovery extends EventTarget {
  announce (id: PeerId, addrs: string[]): void {
    this.dispatchEvent(new CustomEvent<PeerInfo>('peer', { detail: { id, multiaddrs: addrs.map(a => multiaddr(a)) } }))
  }
}

function setup (maxRemembered?: number): { service: FakeDiscovery, seen: string[], connected: Set<string> } {
  const connected = new Set<string>()
  const components = { connectionManager: { getConnections: (p?: PeerId) => (p !== undefined && connected.has(p.toString()) ? [{}] : []) } }
  const service = quietRepeats(() => new FakeDiscovery(), maxRemembered)(components)
  const seen: string[] = []
  service.addEventListener('peer', (evt) => {
    const info = (evt as CustomEvent<PeerInfo>).detail
    seen.push(`${info.id.toString().slice(-4)} ${info.multiaddrs.map(a => a.toString()).join(',')}`)
  })
  return { service, seen, connected }
}

describe('quietRepeats (mDNS announcements)', () => {
  it('drops a repeat of a connected peer with the same addresses, in any order', async () => {
    const { service, seen, connected } = setup()
    const p = await somePeer()
    const a = '/ip4/10.0.0.2/tcp/7680'
    const b = '/ip4/10.0.0.2/tcp/7681'
    service.announce(p, [a, b])
    connected.add(p.toString())
    service.announce(p, [a, b])
    service.announce(p, [b, a])
    assert.equal(seen.length, 1)
  })

  it('passes a repeat while the peer is not connected (the node re-dials it), and changed addresses', async () => {
    const { service, seen, connected } = setup()
    const p = await somePeer()
    service.announce(p, ['/ip4/10.0.0.2/tcp/7680'])
    service.announce(p, ['/ip4/10.0.0.2/tcp/7680'])
    assert.equal(seen.length, 2, 'not connected: every announcement counts')
    connected.add(p.toString())
    service.announce(p, ['/ip4/10.0.0.9/tcp/7680'])
    assert.equal(seen.length, 3, 'new addresses are news')
    service.announce(p, ['/ip4/10.0.0.9/tcp/7680'])
    assert.equal(seen.length, 3)
    connected.delete(p.toString())
    service.announce(p, ['/ip4/10.0.0.9/tcp/7680'])
    assert.equal(seen.length, 4, 'disconnected again: passes')
  })

  it('remembers a bounded number of peers, forgetting the longest unannounced first', async () => {
    const { service, seen, connected } = setup(2)
    const [p1, p2, p3] = await Promise.all([somePeer(), somePeer(), somePeer()])
    for (const p of [p1, p2, p3]) connected.add(p.toString())
    service.announce(p1, ['/ip4/10.0.0.1/tcp/7680'])
    service.announce(p2, ['/ip4/10.0.0.2/tcp/7680'])
    service.announce(p3, ['/ip4/10.0.0.3/tcp/7680']) // p1 forgotten
    assert.equal(seen.length, 3)
    service.announce(p3, ['/ip4/10.0.0.3/tcp/7680'])
    assert.equal(seen.length, 3, 'p3 remembered')
    service.announce(p1, ['/ip4/10.0.0.1/tcp/7680'])
    assert.equal(seen.length, 4, 'p1 was forgotten, so its announcement passes again')
  })

  it('leaves other events and a service without a connection manager alone', async () => {
    const bare = quietRepeats(() => new FakeDiscovery())({})
    const p = await somePeer()
    let n = 0
    bare.addEventListener('peer', () => { n++ })
    bare.announce(p, ['/ip4/10.0.0.2/tcp/7680'])
    bare.announce(p, ['/ip4/10.0.0.2/tcp/7680'])
    assert.equal(n, 2)

    const { service } = setup()
    let other = 0
    service.addEventListener('warning', () => { other++ })
    service.dispatchEvent(new Event('warning'))
    service.dispatchEvent(new Event('warning'))
    assert.equal(other, 2)
  })
})
