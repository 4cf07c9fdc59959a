/**
 * An emulated LAN in Linux network namespaces, built with iproute2 and tc:
 *
 * - `<prefix>br`: a namespace holding only the bridge `br0` and the bridge
 *   ends of every veth pair (nothing is created in the root namespace);
 * - `<prefix>origin`: the origin host, 10.77.0.1/16, its link shaped to the
 *   slower "Internet" rate (default 50 Mbit/s each way);
 * - `<prefix>h1` … `<prefix>hN`: the hosts, 10.77.1.1 … (10.77.<1+⌊i/250⌋>.<1+i%250>),
 *   each link shaped to the host rate (default 100 Mbit/s each way).
 *
 * Each veth pair is `eth0` inside the host and `v<i>` in the bridge
 * namespace; a tbf qdisc on `eth0` limits the host's upload and one on `v<i>`
 * its download, each optionally with a netem delay below it (one-way delay
 * per end, so a host↔host round trip crosses four of them). IPv6 is turned
 * off and a 224.0.0.0/4 route points at eth0 so mDNS stays inside the LAN.
 *
 * {@link teardownLan} removes every namespace whose name starts with the
 * prefix (after killing what runs in it), so it also cleans up after a crash.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Thrown when the machine cannot host the emulated LAN (not root, no ip/tc). */
export class LanUnavailableError extends Error {
  readonly code = 'LAN_UNAVAILABLE'
}

export interface LanOptions {
  /** namespace name prefix, e.g. `dswlan-` (letters, digits, `-`, `_`) */
  prefix: string
  /** number of host namespaces */
  hosts: number
  /** host link rate, Mbit/s, each direction */
  hostMbit: number
  /** origin ("Internet") link rate, Mbit/s, each direction */
  originMbit: number
  /** one-way delay added on every veth end, ms (0 = none) */
  delayMs?: number
}

export interface LanHost {
  /** namespace name */
  ns: string
  /** IPv4 address inside the LAN */
  ip: string
}

export interface Lan {
  prefix: string
  bridgeNs: string
  origin: LanHost
  hosts: LanHost[]
  options: LanOptions
}

const SEARCH_PATH = ['/usr/sbin', '/sbin', '/usr/bin', '/bin']

function findTool (name: string): string | undefined {
  return SEARCH_PATH.map(d => `${d}/${name}`).find(p => existsSync(p))
}

/** Throws {@link LanUnavailableError} with a one-line reason when this machine can't run the LAN. */
export function checkLanRequirements (): void {
  if (process.platform !== 'linux') throw new LanUnavailableError('the emulated LAN needs Linux network namespaces')
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new LanUnavailableError('the emulated LAN needs root (network namespaces, veth, tc); run it as root, e.g. with sudo')
  }
  for (const tool of ['ip', 'tc']) {
    if (findTool(tool) === undefined) throw new LanUnavailableError(`the emulated LAN needs \`${tool}\` (iproute2): apt-get install iproute2`)
  }
  try {
    execFileSync(findTool('ip') as string, ['netns', 'list'], { stdio: 'ignore' })
  } catch (err) {
    throw new LanUnavailableError(`\`ip netns list\` failed: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
}

/** Whether {@link checkLanRequirements} would pass; the reason when not. */
export function lanAvailable (): { ok: true } | { ok: false, reason: string } {
  try {
    checkLanRequirements()
    return { ok: true }
  } catch (err) {
    return { ok: false, reason: (err as Error).message }
  }
}

function ip (args: string[]): string {
  return execFileSync(findTool('ip') ?? 'ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function tc (ns: string, args: string[]): void {
  ip(['netns', 'exec', ns, findTool('tc') ?? 'tc', ...args])
}

function inNs (ns: string, cmd: string, args: string[]): void {
  ip(['netns', 'exec', ns, cmd, ...args])
}

/** Address of host `i` (0-based): 10.77.1.1, 10.77.1.2, … */
export function hostIp (i: number): string {
  return `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`
}

export const ORIGIN_IP = '10.77.0.1'

function checkPrefix (prefix: string): void {
  if (!/^[A-Za-z0-9_-]{1,24}$/.test(prefix)) throw new Error(`namespace prefix ${JSON.stringify(prefix)}: 1–24 letters, digits, - or _`)
}

/** Names of the existing namespaces that start with `prefix`. */
export function namespacesWithPrefix (prefix: string): string[] {
  checkPrefix(prefix)
  const out = ip(['netns', 'list'])
  return out.split('\n').map(l => l.trim().split(/\s+/)[0] ?? '').filter(n => n !== '' && n.startsWith(prefix))
}

/** Shape the egress of `dev` in `ns`: tbf at `mbit`, with a netem delay below it when `delayMs` > 0. */
function shape (ns: string, dev: string, mbit: number, delayMs: number): void {
  // burst ≥ one 64 KiB GSO segment; queue up to 100 ms at the rate
  tc(ns, ['qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'tbf', 'rate', `${mbit}mbit`, 'burst', '128kb', 'latency', '100ms'])
  if (delayMs > 0) tc(ns, ['qdisc', 'replace', 'dev', dev, 'parent', '1:1', 'handle', '10:', 'netem', 'delay', `${delayMs}ms`, 'limit', '100000'])
}

function addHost (lan: Lan, host: LanHost, index: number, mbit: number): void {
  const { bridgeNs } = lan
  const delay = lan.options.delayMs ?? 0
  ip(['netns', 'add', host.ns])
  const bridgeEnd = `v${index}`
  ip(['-n', bridgeNs, 'link', 'add', bridgeEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns])
  ip(['-n', bridgeNs, 'link', 'set', bridgeEnd, 'master', 'br0'])
  ip(['-n', bridgeNs, 'link', 'set', bridgeEnd, 'up'])
  inNs(host.ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'])
  inNs(host.ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1'])
  ip(['-n', host.ns, 'link', 'set', 'lo', 'up'])
  ip(['-n', host.ns, 'addr', 'add', `${host.ip}/16`, 'dev', 'eth0'])
  ip(['-n', host.ns, 'link', 'set', 'eth0', 'up'])
  ip(['-n', host.ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0'])
  shape(host.ns, 'eth0', mbit, delay) // the host's upload
  shape(bridgeNs, bridgeEnd, mbit, delay) // the host's download
}

/**
 * Create the LAN (after removing any leftover with the same prefix).
 * On a failure half-way, everything created so far is removed again.
 */
export function setupLan (options: LanOptions): Lan {
  checkLanRequirements()
  checkPrefix(options.prefix)
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > 2000) throw new Error('hosts: 1–2000')
  if (!(options.hostMbit > 0) || !(options.originMbit > 0)) throw new Error('link rates must be > 0 Mbit/s')
  teardownLan(options.prefix)
  const p = options.prefix
  const lan: Lan = {
    prefix: p,
    bridgeNs: `${p}br`,
    origin: { ns: `${p}origin`, ip: ORIGIN_IP },
    hosts: Array.from({ length: options.hosts }, (_, i) => ({ ns: `${p}h${i + 1}`, ip: hostIp(i) })),
    options
  }
  try {
    ip(['netns', 'add', lan.bridgeNs])
    inNs(lan.bridgeNs, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1'])
    ip(['-n', lan.bridgeNs, 'link', 'set', 'lo', 'up'])
    ip(['-n', lan.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0', 'stp_state', '0', 'forward_delay', '0'])
    ip(['-n', lan.bridgeNs, 'link', 'set', 'br0', 'up'])
    addHost(lan, lan.origin, 0, options.originMbit)
    lan.hosts.forEach((h, i) => { addHost(lan, h, i + 1, options.hostMbit) })
  } catch (err) {
    teardownLan(p)
    throw err
  }
  return lan
}

/** PIDs of the processes in namespace `ns`. */
export function pidsIn (ns: string): number[] {
  try {
    return ip(['netns', 'pids', ns]).split('\n').map(Number).filter(n => Number.isInteger(n) && n > 0)
  } catch {
    return []
  }
}

/**
 * Kill every process in, then delete, every namespace named `<prefix>…`
 * (veth pairs and the bridge go with their namespaces). Idempotent.
 * Returns the namespaces removed.
 */
export function teardownLan (prefix: string): string[] {
  const names = namespacesWithPrefix(prefix)
  for (const ns of names) {
    for (const pid of pidsIn(ns)) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
  }
  for (const ns of names) {
    try { ip(['netns', 'del', ns]) } catch {}
  }
  return names
}

/**
 * Bytes the qdisc on `dev` in `ns` has sent so far (whole frames: payload and
 * TCP/IP/Ethernet headers, and any other traffic on that link).
 */
export function qdiscSentBytes (ns: string, dev: string): number {
  const out = execFileSync(findTool('ip') ?? 'ip', ['netns', 'exec', ns, findTool('tc') ?? 'tc', '-s', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' })
  const m = /Sent (\d+) bytes/.exec(out)
  return m === null ? NaN : Number(m[1])
}

/** `ip netns exec <ns> <cmd> <args…>` as an argv for spawn. */
export function nsExec (ns: string, cmd: string, args: string[]): [string, string[]] {
  return [findTool('ip') ?? 'ip', ['netns', 'exec', ns, cmd, ...args]]
}
