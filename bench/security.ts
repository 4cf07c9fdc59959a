/**
 * Resource-exhaustion figures (THREATS R1–R3, R5, R6, R9): for each attack,
 * an honest download from the victim (a seeder) runs beside it, and its time
 * is compared with honest downloads from the same seeder without an attack,
 * run just before (same process, warm, same limits). Also prints what the
 * victim's admission control refused and evicted, event-loop delay p99 and
 * RSS growth of this process (victim and honest downloader).
 *
 *   node dist/bench/security.js [--size 32MiB] [--baseline-runs 2] [--repeat 1] [--only r1-one,r2] [--attacker-nice 0] [--in-process]
 *
 * The attacker runs in a child process (another "host": its own event loop,
 * sending from 127.0.0.6x), as it would on another machine; `--in-process`
 * runs it in this process instead, where its own key generation, handshakes
 * and encryption compete with the victim's event loop (how figures before
 * 2026-12-02 were taken). On a 2-core machine the child still competes for
 * the cores the victim uses (hashing runs in worker threads); with
 * `--attacker-nice 19` it gets only what the victim leaves idle. The honest
 * download is 32 MiB by default so that the ratio measures throughput rather
 * than start-up (8 MiB took ~0.3 s).
 *
 * Run it under `flock /tmp/doswarm-cpu.lock` on a shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { setPriority } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { admissionOf, type AdmissionStats } from '../src/node/admission.js'
import { DEFAULT_LIMITS, type P2PLimits } from '../src/node/libp2p.js'
import { cleanup, connectionFlood, pingFloodNoRead, slowloris, streamFlood, sybil } from '../test/helpers/attacks.js'
import { honestSwarm, watchProcess, type WatchResult } from '../test/helpers/attack-watch.js'
import { YAMUX_DATA, YAMUX_FLAG_SYN, startRawYamuxPeer, yamuxHeader } from '../test/helpers/raw-yamux-peer.js'
import { waitFor } from '../test/helpers/swarm-fixture.js'
import { cliArgs } from './lib/args.js'

const args = cliArgs('node dist/bench/security.js [options]\nHonest download speed, admission decisions, event-loop delay and RSS beside each resource attack.', {
  size: { type: 'string', default: '32MiB', help: 'size of the honest download' },
  'baseline-runs': { type: 'string', default: '2', help: 'honest downloads without attack before each attack (their mean is the reference)' },
  repeat: { type: 'string', default: '1', help: 'runs per attack (the row shows the median ratio)' },
  only: { type: 'string', help: 'comma-separated attack ids (none, r1-one, r1-many, r2, r3, r5, r6, r6-lifted, r9)' },
  'attacker-nice': { type: 'string', default: '0', help: 'scheduling niceness of the attacker process (19: it runs only on CPU the victim leaves idle, closer to an attacker on another machine when both share 2 cores)' },
  'in-process': { type: 'boolean', help: 'run the attacker in this process (its CPU then competes with the victim\'s event loop)' },
  attacker: { type: 'string', help: 'internal: run as the attacker child for this attack id' },
  target: { type: 'string', help: 'internal: the victim address for --attacker' }
})

interface Attack {
  id: string
  name: string
  limit: string
  seederLimits?: Partial<P2PLimits>
  /** Run the attack against `addr`; resolves with a summary and a way to end it. */
  run: (addr: string) => Promise<{ summary: string, stop: () => Promise<void> }>
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
    limit: `≤ ${DEFAULT_LIMITS.maxConnectionsPerIp} per IP, handshakes in flight included`,
    run: async addr => {
      const f = await connectionFlood(addr, ['127.0.0.66'], 80)
      return { summary: `${f.upgraded}/${f.attempted} dials upgraded`, stop: async () => { await cleanup(f.peers) } }
    }
  },
  {
    id: 'r1-many',
    name: 'R1 flood, 6 hosts × 14 (victim caps 40 total, 8 per IP)',
    limit: '≤ 40 total, ≤ 8 per IP, fair table share',
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
    limit: 'IP banned after 2 bans',
    run: async addr => {
      const s = await sybil(addr, '127.0.0.68', 40)
      for (const c of s.connections.filter(c => !c.closed()).slice(0, 2)) streamFlood(c, 400)
      return { summary: `${s.upgraded}/${s.attempted} identities connected`, stop: async () => { await cleanup(s.peers) } }
    }
  }
]

// ---- attacker child: run one attack, report, hold it until killed ----
const attackerId = args.optStr('attacker')
if (attackerId !== undefined) {
  const attack = ATTACKS.find(a => a.id === attackerId)
  if (attack === undefined) throw new Error(`unknown attack ${attackerId}`)
  console.log('go')
  const r = await attack.run(args.str('target'))
  console.log(`done ${r.summary}`)
  process.on('SIGTERM', () => { void r.stop().finally(() => process.exit(0)) })
  setInterval(() => {}, 60_000)
} else {
  await main()
}

function cpuMs (since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since)
  return (c.user + c.system) / 1000
}

interface Row { attack: Attack, baseMs: number[], attackedMs: number[], baseCpuMs: number[], attackedCpuMs: number[], admission: AdmissionStats[], w: WatchResult[], summaries: string[] }

async function main (): Promise<void> {
  const size = args.bytes('size')
  const baseRuns = args.num('baseline-runs')
  const repeat = args.num('repeat')
  const only = args.optStr('only')?.split(',').map(s => s.trim())
  const inProcess = args.flag('in-process')
  const nice = args.num('attacker-nice')
  const rows: Row[] = []
  for (const attack of ATTACKS.filter(a => only === undefined || only.includes(a.id))) {
    const row: Row = { attack, baseMs: [], attackedMs: [], baseCpuMs: [], attackedCpuMs: [], admission: [], w: [], summaries: [] }
    rows.push(row)
    for (let i = 0; i < repeat; i++) {
      const hs = await honestSwarm({ size, ...(attack.seederLimits !== undefined && { seederLimits: { limits: attack.seederLimits } }) })
      let child: ChildProcess | undefined
      try {
        for (let b = 0; b < baseRuns; b++) {
          const c0 = process.cpuUsage()
          row.baseMs.push((await hs.download(`${attack.id}-${i}-base-${b}`)).ms)
          row.baseCpuMs.push(cpuMs(c0))
        }
        const victim = hs.seeder.swarm?.node
        const before = victim === undefined ? undefined : admissionOf(victim)?.stats()
        const addr = hs.fx.addr(hs.seeder)
        let summary: Promise<string>
        let stop: () => Promise<void>
        const watch = watchProcess()
        let honest
        if (inProcess) {
          row.attackedCpuMs.push(NaN)
          const h = hs.download(`${attack.id}-${i}`)
          const r = await attack.run(addr)
          honest = await h
          summary = Promise.resolve(r.summary)
          stop = r.stop
        } else {
          const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--attacker', attack.id, '--target', addr], { stdio: ['ignore', 'pipe', 'inherit'] })
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
          const c0 = process.cpuUsage()
          honest = await hs.download(`${attack.id}-${i}`)
          row.attackedCpuMs.push(cpuMs(c0))
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
        const after = victim === undefined ? undefined : admissionOf(victim)?.stats()
        if (before !== undefined && after !== undefined) {
          row.admission.push(Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof AdmissionStats]])) as AdmissionStats)
        }
        await stop()
        child = undefined
      } finally {
        child?.kill('SIGKILL')
        await hs.fx.close()
      }
    }
  }

  const s = (ms: number): string => (ms / 1000).toFixed(2)
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const median = (xs: number[]): number => { const o = [...xs].sort((a, b) => a - b); return o[Math.floor(o.length / 2)] ?? NaN }
  console.log(`honest download ${(size / 2 ** 20).toFixed(0)} MiB from one seeder; attacker ${inProcess ? 'in this process' : `in a child process (nice ${nice})`}; ${baseRuns} downloads without attack before each attacked one; ${repeat} run(s) per attack`)
  console.log('| attack | limit | without attack (mean) | beside the attack | speed vs. no attack | victim process CPU without / beside (mean) | victim: refused / evicted | attacker | event-loop p99 / max | RSS growth |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const ratios = r.attackedMs.map((ms, i) => mean(r.baseMs.slice(i * baseRuns, (i + 1) * baseRuns)) / ms)
    const adm = r.admission.map(a => `${a['refused-host'] + a['refused-pending'] + a['refused-full']} / ${a['evicted-pending'] + a['evicted-open']}`).join(', ')
    const w = r.w[r.w.length - 1]
    console.log(`| ${r.attack.name} | ${r.attack.limit} | ${s(mean(r.baseMs))} s | ${r.attackedMs.map(s).join(', ')} s | ${(100 * median(ratios)).toFixed(0)} %${ratios.length > 1 ? ` (${ratios.map(x => (100 * x).toFixed(0)).join(', ')})` : ''} | ${s(mean(r.baseCpuMs))} / ${s(mean(r.attackedCpuMs))} s | ${adm} | ${r.summaries.join('; ')} | ${w?.p99Ms.toFixed(0)} / ${w?.maxMs.toFixed(0)} ms | ${w?.rssGrowthMiB.toFixed(0)} MiB |`)
  }
  process.exit(0)
}
