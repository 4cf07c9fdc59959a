/**
 * Redirect policy (THREATS T10). A CDN we do not control may redirect; it
 * must not be able to turn us into a probe of our own LAN or loopback. So a
 * redirect target is checked before we follow it — scheme http(s) only, and
 * if the host that redirected is public, none of the target's addresses may
 * be private — and a host admitted that way is remembered as "public only"
 * so that the lookup made when the HTTP client actually connects is checked again
 * (a DNS answer that changes between check and connect — rebinding — is
 * refused there).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { AbortedError, OriginError } from '../errors.js'
import type { AddressClass } from './address.js'
import { PRIVATE_ADDRESS_REFUSED } from './constants.js'

export interface RedirectPolicy {
  allowPrivateRedirects: boolean
  classifyAddress: (ip: string) => AddressClass
  /** Hosts that must resolve to public addresses only; the check adds to it. */
  publicOnly: Set<string>
  /** Hosts never added to `publicOnly` (the configured origin: trusted configuration). */
  trustedHost: string
}

/**
 * Resolve `location` against `from` and decide whether to follow it.
 * @returns the target URL
 * @throws {OriginError} non-retryable when the redirect is refused; retryable when DNS fails
 * @throws {AbortedError} when `signal` fires during the lookups
 */
export async function checkRedirect (from: URL, location: string, policy: RedirectPolicy, signal: AbortSignal): Promise<URL> {
  let target: URL
  try {
    target = new URL(location, from)
  } catch {
    throw new OriginError(`${from.href}: redirect to an invalid Location ${JSON.stringify(location)}`, false)
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new OriginError(`${from.href}: refusing redirect to non-http(s) URL ${target.protocol}`, false)
  }
  if (policy.allowPrivateRedirects) return target

  const fromAddrs = await lookupAll(hostOf(from), signal)
  // The redirecting host counts as public if any of its addresses is: the strict reading.
  if (!fromAddrs.some(a => policy.classifyAddress(a) === 'public')) return target

  const toHost = hostOf(target)
  const toAddrs = await lookupAll(toHost, signal)
  const bad = toAddrs.find(a => policy.classifyAddress(a) === 'private')
  if (bad !== undefined) {
    throw new OriginError(
      `${from.href}: refusing redirect from public ${from.host} to private address ${bad} (${target.host})`, false)
  }
  if (toHost !== policy.trustedHost) policy.publicOnly.add(toHost)
  return target
}

/** URL hostname without IPv6 brackets, as DNS and `net.connect` want it. */
export function hostOf (url: URL): string {
  const h = url.hostname
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h
}

/** All addresses of `host` (an IP literal resolves to itself). */
async function lookupAll (host: string, signal: AbortSignal): Promise<string[]> {
  if (signal.aborted) throw new AbortedError()
  // dns.lookup cannot be cancelled; stop waiting for it instead.
  return await new Promise<string[]>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError())
    signal.addEventListener('abort', onAbort, { once: true })
    dnsLookup(host, { all: true }, (err, addresses) => {
      signal.removeEventListener('abort', onAbort)
      if (err !== null) reject(new OriginError(`cannot resolve ${host}: ${err.code ?? err.message}`, true, undefined, { cause: err }))
      else if (addresses.length === 0) reject(new OriginError(`cannot resolve ${host}: no addresses`, true))
      else resolve(addresses.map(a => a.address))
    })
  })
}

/**
 * A `lookup` for new origin connections: plain `dns.lookup`, except that for a
 * host in `publicOnly` an answer containing a private address fails the
 * connection with code {@link PRIVATE_ADDRESS_REFUSED}.
 */
export function guardedLookup (publicOnly: ReadonlySet<string>, classify: (ip: string) => AddressClass): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err !== null) {
        callback(err, '', 0)
        return
      }
      if (publicOnly.has(hostname)) {
        const bad = addresses.find(a => classify(a.address) === 'private')
        if (bad !== undefined) {
          const refusal: NodeJS.ErrnoException = new Error(`refusing to connect to ${hostname}: it now resolves to private address ${bad.address}`)
          refusal.code = PRIVATE_ADDRESS_REFUSED
          callback(refusal, '', 0)
          return
        }
      }
      const first = addresses[0]
      if (options.all === true) callback(null, addresses)
      else if (first === undefined) callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0)
      else callback(null, first.address, first.family)
    })
  }
}
