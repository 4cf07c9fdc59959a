/**
 * IP address classification for the redirect guard (THREATS T10). An address
 * is "private" when it can reach the local host or the local network rather
 * than the public internet: loopback, RFC 1918, link-local, CGNAT, ULA,
 * unspecified, multicast and reserved space, and any IPv6 form that embeds
 * such an IPv4 address (v4-mapped, v4-compatible, NAT64, 6to4).
 */
import { isIPv4, isIPv6 } from 'node:net'

/** How the redirect guard sees an address. */
export type AddressClass = 'public' | 'private'

/** IPv4 blocks that are not public unicast: [network, prefix length]. */
const PRIVATE_V4: ReadonlyArray<readonly [number, number]> = [
  [v4('0.0.0.0'), 8], // "this network", includes the unspecified address
  [v4('10.0.0.0'), 8], // RFC 1918
  [v4('100.64.0.0'), 10], // carrier-grade NAT (RFC 6598)
  [v4('127.0.0.0'), 8], // loopback
  [v4('169.254.0.0'), 16], // link-local (cloud metadata lives here)
  [v4('172.16.0.0'), 12], // RFC 1918
  [v4('192.0.0.0'), 24], // IETF protocol assignments
  [v4('192.168.0.0'), 16], // RFC 1918
  [v4('198.18.0.0'), 15], // benchmarking
  [v4('224.0.0.0'), 4], // multicast
  [v4('240.0.0.0'), 4] // reserved, includes broadcast
]

/**
 * True when `ip` is not a public unicast address. Input that is not an IP
 * literal counts as private: the guard fails closed. Accepts IPv6 with
 * brackets or a zone id (`[fe80::1%eth0]`).
 */
export function isPrivateAddress (ip: string): boolean {
  let s = ip.trim()
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  if (isIPv4(s)) return isPrivateV4(v4(s))
  if (isIPv6(s)) return isPrivateV6(parseV6(s))
  return true
}

/** The default `classifyAddress`: {@link isPrivateAddress} as a two-way label. */
export function classifyAddress (ip: string): AddressClass {
  return isPrivateAddress(ip) ? 'private' : 'public'
}

function isPrivateV4 (addr: number): boolean {
  for (const [net, bits] of PRIVATE_V4) {
    // `>>> 0` keeps the arithmetic unsigned; a /0 mask would need special care, none is listed.
    const mask = (~0 << (32 - bits)) >>> 0
    if (((addr & mask) >>> 0) === net) return true
  }
  return false
}

/** 8 groups of 16 bits. */
function isPrivateV6 (g: readonly number[]): boolean {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number]
  const embedded = ((g6 << 16) | g7) >>> 0
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0
  if (upperZero && g5 === 0) {
    // ::, ::1 and the deprecated v4-compatible ::a.b.c.d
    if (g6 === 0 && (g7 === 0 || g7 === 1)) return true
    return isPrivateV4(embedded)
  }
  if (upperZero && g5 === 0xffff) return isPrivateV4(embedded) // v4-mapped ::ffff:a.b.c.d
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isPrivateV4(embedded) // NAT64
  if (g0 === 0x2002) return isPrivateV4(((g1 << 16) | g2) >>> 0) // 6to4 embeds the v4 address in bits 16..47
  if ((g0 & 0xfe00) === 0xfc00) return true // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return true // link-local fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return true // deprecated site-local fec0::/10
  if ((g0 & 0xff00) === 0xff00) return true // multicast ff00::/8
  return false
}

/** Dotted quad to an unsigned 32-bit number. Caller has validated the syntax. */
function v4 (s: string): number {
  const p = s.split('.').map(Number)
  return (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0
}

/** A syntactically valid IPv6 literal (no zone) to its 8 groups. */
function parseV6 (s: string): number[] {
  let text = s
  const tail: number[] = []
  // A trailing dotted quad fills the last two groups.
  const lastColon = text.lastIndexOf(':')
  if (text.indexOf('.', lastColon) >= 0) {
    const quad = v4(text.slice(lastColon + 1))
    tail.push(quad >>> 16, quad & 0xffff)
    text = text.slice(0, lastColon + 1)
    // "::ffff:" → "::ffff" (a lone separator), but keep a "::" gap intact
    if (!text.endsWith('::')) text = text.slice(0, -1)
  }
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map(h => parseInt(h, 16))
  const gap = text.indexOf('::')
  let groups: number[]
  if (gap >= 0) {
    const head = parse(text.slice(0, gap))
    const rest = parse(text.slice(gap + 2))
    const fill = 8 - tail.length - head.length - rest.length
    groups = [...head, ...new Array<number>(Math.max(0, fill)).fill(0), ...rest]
  } else {
    groups = parse(text)
  }
  return [...groups, ...tail]
}
