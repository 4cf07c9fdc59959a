/**
 * Resource-exhaustion figures (THREATS R1–R9): for each attack,
 * an honest download from the victim (a seeder) runs beside it, and its time
 * is compared with honest downloads from the same seeder without an attack,
 * run just before (same process, warm, same limits). Also prints what the
 * victim's admission control refused and evicted, event-loop delay p99 and
 * RSS growth of this process (victim and honest downloader).
 *
 *   node dist/bench/security.js [--size 128MiB] [--baseline-runs 2] [--repeat 5] [--only r1-one,r2] [--attacker-nice 0] [--in-process] [--profile DIR]
 *   [--seeder-limits maxUnprovenPerIp=1000]
 *
 * Each run starts a fresh seeder, makes one uncounted warm-up download, then
 * honest downloads without attack before and after the attacked one (their
 * mean is that run's reference), and the rounds interleave the attacks, so a
 * slow phase of a shared machine is spread over every row. `--profile`
 * writes CPU profiles of the victim's main thread and prints where the extra
 * self time beside each attack went.
 *
 * The attacker runs in a child process (another "host": its own event loop,
 * sending from 127.0.0.6x), as it would on another machine; for R4, R7 and
 * R8 it runs doswarm peers (test/helpers/evil-peer.ts) that break the
 * protocol with one fresh identity after another until the victim refuses
 * their host. By default
 * (`--attacker-cpus auto`, from 3 Dec 2026) the child is also pinned (taskset) to a
 * CPU of its own while this process — victim, honest downloader and their
 * worker threads — keeps the others, so the downloads with and without
 * attack run on the same CPUs and the ratio shows what the attack costs the
 * victim, not what the attacker's own work costs a shared machine.
 * `--attacker-cpus shared` lets both use every CPU (figures before 3 Dec);
 * there `--attacker-nice 19` gives the attacker only what the victim leaves
 * idle. `--in-process` runs the attacker in this process, where its key
 * generation, handshakes and encryption compete with the victim's event loop
 * (figures before 2 Dec). The honest
 * download is 128 MiB by default so that the ratio measures throughput rather
 * than start-up (32 MiB took ~0.3 s by December 2026, and the control row
 * then ranged 53–106 %).
 *
 * Run it under `flock /tmp/doswarm-cpu.lock` on a shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { setPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { verifyManifest, pieceCount, type Manifest } from '../src/manifest/index.js'
import { admissionOf, type AdmissionStats } from '../src/node/admission.js'
import { DEFAULT_LIMITS, type P2PLimits } from '../src/node/libp2p.js'
import { cleanup, connectionFlood, pingFloodNoRead, slowloris, streamFlood, sybil } from '../test/helpers/attacks.js'
import { honestSwarm, watchProcess, type WatchResult } from '../test/helpers/attack-watch.js'
import { ONE_GIB_PREFIX, concat, rawHave, rawRequest, startEvilPeer, type EvilPeer } from '../test/helpers/evil-peer.js'
import { YAMUX_DATA, YAMUX_FLAG_SYN, startRawYamuxPeer, yamuxHeader } from '../test/helpers/raw-yamux-peer.js'
import { waitFor } from '../test/helpers/swarm-fixture.js'
import { cliArgs } from './lib/args.js'
import { splitOffLastCpu } from './lib/cpus.js'

const args = cliArgs('node dist/bench/security.js [options]\nHonest download speed, admission decisions, event-loop delay and RSS beside each resource attack.', {
  size: { type: 'string', default: '128MiB', help: 'size of the honest download' },
  'baseline-runs': { type: 'string', default: '2', help: 'honest downloads without attack per run, half before and half after the attacked one (their mean is the reference)' },
  repeat: { type: 'string', default: '5', help: 'runs per attack (the row shows the median ratio)' },
  only: { type: 'string', help: 'comma-separated attack ids (none, r1-one, r1-many, r2, r3, r4, r5, r6, r6-lifted, r7, r8, r9)' },
  'attacker-nice': { type: 'string', default: '0', help: 'scheduling niceness of the attacker process (19: it runs only on CPU the victim leaves idle, closer to an attacker on another machine when both share 2 cores)' },
  'attacker-cpus': { type: 'string', default: 'auto', help: 'split: the attacker process is pinned to the last CPU this process may use and this process (victim and honest downloader, with their worker threads) to the rest, with taskset(1), so the attacker\'s own work does not compete with the victim\'s (needs ≥ 2 CPUs); shared: no pinning; auto: split where possible, else shared' },
  'seeder-limits': { type: 'string', help: 'limits of the victim for every attack, e.g. maxUnprovenPerIp=1000 (A/B against a rule); an attack\'s own limits win' },
  profile: { type: 'string', help: 'write a CPU profile of this process\'s main thread (victim and honest downloader) for every counted download to this directory, and print where the extra self time beside each attack went' },
  'in-process': { type: 'boolean', help: 'run the attacker in this process (its CPU then competes with the victim\'s event loop)' },
  attacker: { type: 'string', help: 'internal: run as the attacker child for this attack id' },
  target: { type: 'string', help: 'internal: the victim address for --attacker' },
  manifest: { type: 'string', help: 'internal: the shared content\'s manifest file, for --attacker' },
  publisher: { type: 'string', help: 'internal: its publisher key' }
})

interface Attack {
  id: string
  name: string
  limit: string
  seederLimits?: Partial<P2PLimits>
  /** Run the attack against `addr`, which shares `content`; resolves with a summary and a way to end it. */
  run: (addr: string, content: Manifest) => Promise<{ summary: string, stop: () => Promise<void> }>
}

/**
 * R4, R7, R8: doswarm peers from `host`, one fresh identity after another,
 * each opening a session for the shared content and breaking the protocol
 * (`first` instead of its HELLO, or `after` it), until the victim refuses
 * the host (two bans from one address ban the address) or `identities` ran.
 */
async function protocolAbuse (addr: string, content: Manifest, host: string, abuse: { first?: Uint8Array[], after?: Uint8Array }, identities = 10): Promise<{ summary: string, stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'doswarm-abuse-'))
  const peers: EvilPeer[] = []
  let cut = 0
  let refused = false
  for (let k = 0; k < identities && !refused; k++) {
    const p = await startEvilPeer({ dir, manifest: content, behaviour: { kind: 'opener-only' }, localAddress: host })
    peers.push(p)
    try {
      const s = await p.openSession(addr, { ...(abuse.first !== undefined ? { first: abuse.first } : {}), timeoutMs: 5000 })
      if (abuse.after !== undefined) await s.sendRaw(abuse.after).catch(() => {})
      let timer: NodeJS.Timeout | undefined
      await Promise.race([s.closed, new Promise(resolve => { timer = setTimeout(resolve, 5000) })])
      clearTimeout(timer)
      cut++
    } catch {
      refused = true
    }
  }
  return {
    summary: `${cut} identities cut off${refused ? ', then the host refused' : ''}`,
    stop: async () => {
      await Promise.allSettled(peers.map(async p => { await p.stop() }))
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** R6: one peer from `host` that stops reading and sends yamux pings. */
async function pingFlood (addr: string, host: string): Promise<{ summary: string, stop: () => Promise<void> }> {
  const p = await startRawYamuxPeer({ localAddress: host })
  const raw = await p.connect(addr)
  const n = await pingFloodNoRead(raw, 2_000_000)
  return { summary: `${n} pings`, stop: async () => { await cleanup([p]) } }
}

const ATTACKS: Attack[] = [
  {
    // control: the attacker process starts and does nothing; shows what the harness alone costs
    id: 'none',
    name: 'control: attacker process started, no attack',
    limit: '–',
    run: async () => ({ summary: 'idle', stop: async () => {} })
  },
  {
    id: 'r1-one',
    name: 'R1 flood, 1 host × 80 identities',
    limit: `≤ ${DEFAULT_LIMITS.maxUnprovenPerIp} handshakes until the host speaks doswarm, ≤ ${DEFAULT_LIMITS.maxConnectionsPerIp} per IP (in flight included)`,
    run: async addr => {
      const f = await connectionFlood(addr, ['127.0.0.66'], 80)
      return { summary: `${f.upgraded}/${f.attempted} dials upgraded`, stop: async () => { await cleanup(f.peers) } }
    }
  },
  {
    id: 'r1-many',
    name: 'R1 flood, 6 hosts × 14 (victim caps 40 total, 8 per IP)',
    limit: `≤ 40 total, ≤ 8 per IP, fair table share, ≤ ${DEFAULT_LIMITS.maxUnprovenPerIp} unproven per host`,
    seederLimits: { maxConnections: 40, maxConnectionsPerIp: 8 },
    run: async addr => {
      const f = await connectionFlood(addr, Array.from({ length: 6 }, (_, i) => `127.0.0.${70 + i}`), 14)
      return { summary: `${f.upgraded}/${f.attempted} dials upgraded`, stop: async () => { await cleanup(f.peers) } }
    }
  },
  {
    id: 'r2',
    name: 'R2 slowloris, 60 sockets at the seeder (upgrade timeout 10 s)',
    limit: `${DEFAULT_LIMITS.maxIncomingPendingConnections} pending slots, fair share`,
    run: async addr => {
      const a = await slowloris(addr, '127.0.0.67', 60)
      return { summary: `${a.refusedAtOnce()} refused at once`, stop: async () => { await cleanup([], a.sockets) } }
    }
  },
  {
    id: 'r3',
    name: 'R3 stream flood, 2000 SYNs',
    limit: `${DEFAULT_LIMITS.maxStreamOpensPer10s} opens / 10 s`,
    run: async addr => {
      const p = await startRawYamuxPeer({ localAddress: '127.0.0.69' })
      const raw = await p.connect(addr)
      streamFlood(raw, 2000)
      await waitFor(() => raw.closed(), 10_000, 'close')
      return { summary: 'closed', stop: async () => { await cleanup([p]) } }
    }
  },
  {
    id: 'r4',
    name: 'R4 1 GiB length prefix instead of a HELLO, fresh identities from 1 host',
    limit: 'frame length checked before allocation; sender banned; host banned after 2',
    run: async (addr, content) => await protocolAbuse(addr, content, '127.0.0.61', { first: [ONE_GIB_PREFIX] })
  },
  {
    id: 'r7',
    name: 'R7 request flood, 10000 REQUESTs per identity, fresh identities from 1 host',
    limit: '≤ 32 outstanding requests per peer; sender banned; host banned after 2',
    run: async (addr, content) => {
      const n = pieceCount(content)
      const burst = concat(Array.from({ length: 10_000 }, (_, i) => rawRequest(i + 1, i % n)))
      return await protocolAbuse(addr, content, '127.0.0.62', { after: burst })
    }
  },
  {
    id: 'r8',
    name: 'R8 HAVE flood (2 × pieces + 10), fresh identities from 1 host',
    limit: 'HAVE rate per peer; sender banned; host banned after 2',
    run: async (addr, content) => {
      const n = pieceCount(content)
      const flood = concat(Array.from({ length: 2 * n + 10 }, (_, i) => rawHave(i % n)))
      return await protocolAbuse(addr, content, '127.0.0.60', { after: flood })
    }
  },
  {
    id: 'r5',
    name: 'R5 giant yamux frame (0xFFFFFFFF), 64 MiB pushed',
    limit: `frame ≤ ${DEFAULT_LIMITS.maxStreamWindowSize} B`,
    run: async addr => {
      const p = await startRawYamuxPeer({ localAddress: '127.0.0.64' })
      const raw = await p.connect(addr)
      raw.rawSend(yamuxHeader(YAMUX_DATA, YAMUX_FLAG_SYN, 101, 0xFFFFFFFF))
      const chunk = new Uint8Array(256 * 1024)
      let sent = 0
      for (; sent < 64 * 1024 * 1024 && !raw.closed(); sent += chunk.length) {
        try { if (!raw.rawSend(chunk)) await raw.drained() } catch { break }
        await new Promise(resolve => setImmediate(resolve))
      }
      return { summary: `${(sent / 2 ** 20).toFixed(1)} MiB written`, stop: async () => { await cleanup([p]) } }
    }
  },
  {
    id: 'r6',
    name: 'R6 ping flood, never reading',
    limit: `${DEFAULT_LIMITS.maxYamuxPingsPer10s} pings / 10 s`,
    run: async addr => await pingFlood(addr, '127.0.0.65')
  },
  {
    id: 'r6-lifted',
    name: 'R6 never-reading peer, ping cap lifted',
    limit: `${DEFAULT_LIMITS.maxConnectionWriteChunks} queued chunks`,
    seederLimits: { maxYamuxPingsPer10s: 1e9 },
    run: async addr => await pingFlood(addr, '127.0.0.63')
  },
  {
    id: 'r9',
    name: 'R9 Sybil, 40 identities from 1 host, 2 misbehave',
    limit: `≤ ${DEFAULT_LIMITS.maxUnprovenPerIp} unproven identities per host; IP banned after 2 bans`,
    run: async addr => {
      const s = await sybil(addr, '127.0.0.68', 40)
      for (const c of s.connections.filter(c => !c.closed()).slice(0, 2)) streamFlood(c, 400)
      return { summary: `${s.upgraded}/${s.attempted} identities connected`, stop: async () => { await cleanup(s.peers) } }
    }
  }
]

function cpuMs (since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since)
  return (c.user + c.system) / 1000
}

/** `name=value,…` → limits; throws on an unknown name or a value that is not a number. */
function parseLimits (text: string): Partial<P2PLimits> {
  const out: Record<string, number> = {}
  for (const part of text.split(',').map(p => p.trim()).filter(p => p !== '')) {
    const [name, value] = part.split('=')
    if (name === undefined || !(name in DEFAULT_LIMITS) || !Number.isFinite(Number(value))) throw new Error(`--seeder-limits: bad entry "${part}"`)
    out[name] = Number(value)
  }
  return out
}

/** CPU time (user + system, ms) a child process has used so far, from /proc (Linux); NaN elsewhere. */
async function childCpuMs (pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name (which may contain spaces): utime is the 14th field, stime the 15th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 1000 / CLOCK_TICKS
  } catch {
    return NaN
  }
}
const CLOCK_TICKS = 100

/** The main thread's CPU profile (the victim's event loop and the honest downloader) around one download. */
class Profiler {
  readonly #session = new Session()
  readonly #dir: string
  constructor (dir: string) { this.#dir = dir; this.#session.connect() }
  async start (): Promise<void> {
    await this.#session.post('Profiler.enable')
    await this.#session.post('Profiler.setSamplingInterval', { interval: 500 })
    await this.#session.post('Profiler.start')
  }

  /** Stop; write the profile to `<dir>/<label>.cpuprofile`; returns self time by function, µs. */
  async stop (label: string): Promise<Map<string, number>> {
    const { profile } = await this.#session.post('Profiler.stop')
    await mkdir(this.#dir, { recursive: true })
    await writeFile(join(this.#dir, `${label}.cpuprofile`), JSON.stringify(profile))
    return selfTimes(profile)
  }
}

/** Self time (µs) by "function package-or-file:line" of a V8 CPU profile; idle time left out. */
function selfTimes (profile: { nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }>, samples?: number[], timeDeltas?: number[] }): Map<string, number> {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const out = new Map<string, number>()
  const samples = profile.samples ?? []
  for (let i = 0; i < samples.length; i++) {
    const cf = byId.get(samples[i] ?? -1)?.callFrame
    if (cf === undefined || cf.functionName === '(idle)') continue
    const where = cf.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')
    const key = `${cf.functionName === '' ? '(anonymous)' : cf.functionName} ${where}${where === '' ? '' : `:${cf.lineNumber + 1}`}`
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas?.[i] ?? 0))
  }
  return out
}

function addInto (into: Map<string, number>, from: Map<string, number>, sign = 1): void {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + sign * v)
}

interface Row {
  attack: Attack
  /** per run: the downloads without attack just before and just after the attacked one */
  baseMs: number[][]
  attackedMs: number[]
  baseCpuMs: number[]
  attackedCpuMs: number[]
  attackerCpuMs: number[]
  admission: AdmissionStats[]
  w: WatchResult[]
  summaries: string[]
  /** self time beside the attack minus the mean of the downloads without it, µs, summed over runs */
  extraSelf: Map<string, number>
}

/** A bad option value: one line on stderr, exit 2 (as for an unknown option). */
function usageExit (message: string): never {
  process.stderr.write(`${message}\n`)
  process.exit(2)
}

async function main (): Promise<void> {
  const size = args.bytes('size')
  const baseRuns = args.num('baseline-runs')
  const repeat = args.num('repeat')
  const only = args.optStr('only')?.split(',').map(s => s.trim())
  const inProcess = args.flag('in-process')
  const nice = args.num('attacker-nice')
  const cpuMode = args.str('attacker-cpus')
  if (!['auto', 'split', 'shared'].includes(cpuMode)) usageExit(`--attacker-cpus ${cpuMode}: expected auto, split or shared`)
  let attackerCpu: string | undefined
  if (cpuMode !== 'shared' && !inProcess) {
    const split = splitOffLastCpu()
    if ('cpu' in split) attackerCpu = String(split.cpu)
    else if (cpuMode === 'split') usageExit(`--attacker-cpus split: ${split.reason}`)
    else console.log(`attacker CPUs shared with the victim: ${split.reason}`)
  }
  const profileDir = args.optStr('profile')
  const seederLimits = parseLimits(args.optStr('seeder-limits') ?? '')
  const profiler = profileDir === undefined ? undefined : new Profiler(profileDir)
  const attacks = ATTACKS.filter(a => only === undefined || only.includes(a.id))
  const rows: Row[] = attacks.map(attack => ({ attack, baseMs: [], attackedMs: [], baseCpuMs: [], attackedCpuMs: [], attackerCpuMs: [], admission: [], w: [], summaries: [], extraSelf: new Map() }))
  // rounds interleave the attacks (round 1 of every attack, then round 2, …) so that a slow phase of the
  // shared machine lands on every row rather than on one
  for (let i = 0; i < repeat; i++) {
    for (const row of rows) {
      const attack = row.attack
      const limits = { ...seederLimits, ...attack.seederLimits }
      const hs = await honestSwarm({ size, seederLimits: { limits } })
      let child: ChildProcess | undefined
      const bases: number[] = []
      const baseSelf = new Map<string, number>()
      const baseline = async (label: string): Promise<void> => {
        await profiler?.start()
        const c0 = process.cpuUsage()
        bases.push((await hs.download(label)).ms)
        row.baseCpuMs.push(cpuMs(c0))
        if (profiler !== undefined) addInto(baseSelf, await profiler.stop(label))
      }
      try {
        // one warm-up download (the first one in a fresh seeder pays for JIT and cold caches), not counted
        await hs.download(`${attack.id}-${i}-warm`)
        // half the downloads without attack before the attacked one, half after it
        const before = Math.ceil(baseRuns / 2)
        for (let b = 0; b < before; b++) await baseline(`${attack.id}-${i}-base-${b}`)
        const victim = hs.seeder.swarm?.node
        const adm0 = victim === undefined ? undefined : admissionOf(victim)?.stats()
        const addr = hs.fx.addr(hs.seeder)
        let summary: Promise<string>
        let stop: () => Promise<void>
        const watch = watchProcess()
        let honest
        if (inProcess) {
          row.attackedCpuMs.push(NaN)
          row.attackerCpuMs.push(NaN)
          const h = hs.download(`${attack.id}-${i}`)
          const r = await attack.run(addr, hs.fx.manifest)
          honest = await h
          summary = Promise.resolve(r.summary)
          stop = r.stop
        } else {
          const manifestFile = join(hs.fx.dir, 'attack.manifest')
          await writeFile(manifestFile, hs.fx.manifest.bytes)
          const argv = [process.execPath, fileURLToPath(import.meta.url), '--attacker', attack.id, '--target', addr, '--manifest', manifestFile, '--publisher', hs.fx.manifest.publisher]
          // taskset execs node in place, so the child's pid is the attacker's (its CPU is read from /proc)
          const [cmd, ...rest] = attackerCpu === undefined ? argv : ['taskset', '-c', attackerCpu, ...argv]
          const c = spawn(cmd as string, rest, { stdio: ['ignore', 'pipe', 'inherit'] })
          child = c
          if (c.pid !== undefined && nice !== 0) setPriority(c.pid, nice)
          const lines = createInterface({ input: c.stdout! })
          const done = Promise.withResolvers<string>()
          const go = Promise.withResolvers<void>()
          lines.on('line', line => {
            if (line === 'go') go.resolve()
            else if (line.startsWith('done ')) done.resolve(line.slice(5))
          })
          c.once('exit', code => { go.reject(new Error(`attacker exited (${String(code)})`)); done.resolve(`attacker exited (${String(code)})`) })
          await go.promise
          const a0 = await childCpuMs(c.pid)
          await profiler?.start()
          const c0 = process.cpuUsage()
          honest = await hs.download(`${attack.id}-${i}`)
          row.attackedCpuMs.push(cpuMs(c0))
          row.attackerCpuMs.push(await childCpuMs(c.pid) - a0)
          if (profiler !== undefined) addInto(row.extraSelf, await profiler.stop(`${attack.id}-${i}-attacked`))
          summary = Promise.race([done.promise, new Promise<string>(resolve => setTimeout(() => { resolve('still running when the download ended') }, 5000))])
          stop = async () => {
            c.kill('SIGTERM')
            await new Promise(resolve => { c.once('exit', resolve); setTimeout(resolve, 5000) })
          }
        }
        row.w.push(watch.stop())
        if (!honest.ok) throw new Error(`${attack.name}: honest download delivered wrong bytes`)
        row.attackedMs.push(honest.ms)
        row.summaries.push(await summary)
        const adm1 = victim === undefined ? undefined : admissionOf(victim)?.stats()
        if (adm0 !== undefined && adm1 !== undefined) {
          row.admission.push(Object.fromEntries(Object.entries(adm1).map(([k, v]) => [k, v - adm0[k as keyof AdmissionStats]])) as AdmissionStats)
        }
        await stop()
        child = undefined
        for (let b = before; b < baseRuns; b++) await baseline(`${attack.id}-${i}-base-${b}`)
        row.baseMs.push(bases)
        if (bases.length > 0) addInto(row.extraSelf, baseSelf, -1 / bases.length)
      } finally {
        child?.kill('SIGKILL')
        await hs.fx.close()
      }
    }
  }

  const s = (ms: number): string => (ms / 1000).toFixed(2)
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const median = (xs: number[]): number => {
    const o = [...xs].sort((a, b) => a - b)
    const m = o.length / 2
    return o.length % 2 === 1 ? o[Math.floor(m)] ?? NaN : ((o[m - 1] ?? NaN) + (o[m] ?? NaN)) / 2
  }
  console.log(`honest download ${(size / 2 ** 20).toFixed(0)} MiB from one seeder${Object.keys(seederLimits).length > 0 ? ` (victim limits ${JSON.stringify(seederLimits)})` : ''}; attacker ${inProcess ? 'in this process' : `in a child process (nice ${nice}${attackerCpu === undefined ? '' : `, pinned to CPU ${attackerCpu}, this process to the others`})`}; per run: 1 warm-up download, then ${baseRuns} without attack around the attacked one (${Math.ceil(baseRuns / 2)} before, ${baseRuns - Math.ceil(baseRuns / 2)} after); ${repeat} run(s) per attack, rounds interleaved across attacks`)
  console.log('| attack | limit | without attack (mean) | beside the attack | speed vs. no attack: median (runs) | victim process CPU without / beside (mean) | attacker process CPU during the download (mean) | victim: refused / evicted | attacker | event-loop p99 / max | RSS growth |')
  console.log('|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const ratios = r.attackedMs.map((ms, i) => mean(r.baseMs[i] ?? []) / ms)
    const adm = r.admission.map(a => `${a['refused-host'] + a['refused-pending'] + a['refused-full'] + a['refused-unproven']} / ${a['evicted-pending'] + a['evicted-open'] + a['evicted-unproven']}`).join(', ')
    const w = r.w[r.w.length - 1]
    console.log(`| ${r.attack.name} | ${r.attack.limit} | ${s(mean(r.baseMs.flat()))} s | ${r.attackedMs.map(s).join(', ')} s | ${(100 * median(ratios)).toFixed(0)} %${ratios.length > 1 ? ` (${ratios.map(x => (100 * x).toFixed(0)).join(', ')})` : ''} | ${s(mean(r.baseCpuMs))} / ${s(mean(r.attackedCpuMs))} s | ${s(mean(r.attackerCpuMs))} s | ${adm} | ${r.summaries.join('; ')} | ${w?.p99Ms.toFixed(0)} / ${w?.maxMs.toFixed(0)} ms | ${w?.rssGrowthMiB.toFixed(0)} MiB |`)
  }
  if (profileDir !== undefined) {
    for (const r of rows) {
      const top = [...r.extraSelf].sort((a, b) => b[1] - a[1]).slice(0, 25)
      console.log(`\n${r.attack.id}: victim main thread self time beside the attack minus without it (mean of ${repeat} run(s)), top 25; profiles in ${profileDir}`)
      for (const [k, us] of top) console.log(`${(us / 1000 / repeat).toFixed(1).padStart(8)} ms  ${k}`)
    }
  }
  process.exit(0)
}

// ---- attacker child: run one attack, report, hold it until killed ----
const attackerId = args.optStr('attacker')
if (attackerId !== undefined) {
  const attack = ATTACKS.find(a => a.id === attackerId)
  if (attack === undefined) throw new Error(`unknown attack ${attackerId}`)
  const content = verifyManifest(await readFile(args.str('manifest')), { trustedKeys: [args.str('publisher')] })
  console.log('go')
  const r = await attack.run(args.str('target'), content)
  console.log(`done ${r.summary}`)
  process.on('SIGTERM', () => { void r.stop().finally(() => process.exit(0)) })
  setInterval(() => {}, 60_000)
} else {
  await main()
}
