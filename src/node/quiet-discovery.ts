/**
 * mDNS re-announces every node on the LAN every query interval (libp2p's
 * default 10 s; doswarm's MDNS_QUERY_INTERVAL_MS, 30 s): each node queries, and
 * every other node multicasts its answer to all. With N nodes, each node
 * handles about N² announcements per interval, and libp2p turns each one into
 * a peer-store merge (a write lock, a protobuf decode and encode). On the
 * 20-host LAN emulation (bench/lan) this was ~12 % of the daemons' CPU while
 * they moved a 256 MiB file: news to nobody, since every node was already
 * connected to the 19 others.
 *
 * {@link quietRepeats} wraps a discovery service factory (`mdns(...)`) and
 * drops an announcement that tells nothing new: the peer is connected right
 * now and announces the same addresses it announced last time. Anything
 * else — a first sighting, changed addresses, a peer we are not connected
 * to (the node re-dials those: libp2p.ts, dialDiscoveredPeers) — passes.
 */
import type { PeerId, PeerInfo } from '@libp2p/interface'

/** Peers whose last announcement is remembered; older entries are forgotten first (a LAN may be hostile). @default 1024 */
export const MAX_REMEMBERED_PEERS = 1024

/** What the filter needs from libp2p's components (libp2p passes every component to a service factory). */
export interface QuietComponents {
  connectionManager?: { getConnections: (peerId?: PeerId) => unknown[] }
}

/** A discovery service: it announces peers by dispatching 'peer' events. */
interface Dispatcher {
  dispatchEvent: (evt: Event) => boolean
}

/** The announcement's addresses in a comparable form. */
function signature (info: PeerInfo): string {
  return info.multiaddrs.map(a => a.toString()).sort().join(' ')
}

/**
 * `factory` whose service drops repeated announcements of connected peers
 * (see the module comment). A service without `dispatchEvent`, or components
 * without a connection manager, are left unfiltered.
 */
export function quietRepeats<C extends object, S> (factory: (components: C) => S, maxRemembered = MAX_REMEMBERED_PEERS): (components: C & QuietComponents) => S {
  return (components) => {
    const service = factory(components)
    const target = service as unknown as Partial<Dispatcher>
    const connections = components.connectionManager
    if (typeof target.dispatchEvent !== 'function' || connections === undefined) return service
    const dispatch = target.dispatchEvent.bind(service)
    const last = new Map<string, string>()
    target.dispatchEvent = (evt: Event): boolean => {
      const info = (evt as CustomEvent<PeerInfo>).detail
      if (evt.type !== 'peer' || info?.id === undefined || !Array.isArray(info.multiaddrs)) return dispatch(evt)
      const key = info.id.toString()
      const sig = signature(info)
      if (last.get(key) === sig && connections.getConnections(info.id).length > 0) return true
      last.delete(key) // re-inserted last: the map's order is the order of last announcement
      last.set(key, sig)
      if (last.size > maxRemembered) {
        const oldest = last.keys().next().value
        if (oldest !== undefined) last.delete(oldest)
      }
      return dispatch(evt)
    }
    return service
  }
}
