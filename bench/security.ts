/**
 * Resource-exhaustion figures (THREATS R1–R3, R5, R6, R9): for each attack,
 * an honest 8 MiB download from the victim runs beside it, and its time is
 * compared with the median of honest downloads without an attack (same
 * process, same machine). Also prints event-loop delay p99 and RSS growth of
 * the process (victim, attacker and downloader together: an upper bound for
 * the victim alone).
 *
 *   node dist/bench/security.js [--baseline-runs 3]
 *
 * Run it under `flock /tmp/doswarm-cpu.lock` on a shared machine.
 */
import { DEFAULT_LIMITS } from '../src/node/libp2p.js'
import { cleanup, connectionFlood, pingFloodNoRead, slowloris, streamFlood, sybil } from '../test/helpers/attacks.js'
import { honestSwarm, watchProcess, type HonestSwarm, type WatchResult } from '../test/helpers/attack-watch.js'
import { YAMUX_DATA, YAMUX_FLAG_SYN, startRawYamuxPeer, yamuxHeader } from '../test/helpers/raw-yamux-peer.js'
import { waitFor } from '../test/helpers/swarm-fixture.js'
import { cliArgs } from './lib/args.js'

const args = cliArgs('node dist/bench/security.js [--baseline-runs N]\nHonest download speed, event-loop delay and RSS beside each resource attack.', {
  'baseline-runs': { type: 'string', default: '3', help: 'honest downloads without attack (median)' }
})

interface Row { attack: string, limit: string, honestMs: number, w: WatchResult }
const rows: Row[] = []

async function scenario (name: string, limit: string, setup: Parameters<typeof honestSwarm>[0], attack: (hs: HonestSwarm) => Promise<() => Promise<void>>, honestFirst = false): Promise<void> {
  const hs = await honestSwarm(setup)
  try {
    const watch = watchProcess()
    let stop: (() => Promise<void>) | undefined
    let honest
    if (honestFirst) {
      const h = hs.download(name)
      stop = await attack(hs)
      honest = await h
    } else {
      const a = attack(hs)
      honest = await hs.download(name)
      stop = await a
    }
    const w = watch.stop()
    if (!honest.ok) throw new Error(`${name}: honest download delivered wrong bytes`)
    rows.push({ attack: name, limit, honestMs: honest.ms, w })
    await stop()
  } finally {
    await hs.fx.close()
  }
}

// baseline
const base: number[] = []
{
  const hs = await honestSwarm()
  try {
    for (let i = 0; i < args.num('baseline-runs'); i++) base.push((await hs.download(`base-${i}`)).ms)
  } finally { await hs.fx.close() }
}
base.sort((a, b) => a - b)
const baseMs = base[Math.floor(base.length / 2)] ?? NaN

await scenario('R1 flood, 1 host × 80 identities', `≤ ${DEFAULT_LIMITS.maxConnectionsPerIp} per IP`, {}, async hs => {
  const f = await connectionFlood(hs.fx.addr(hs.seeder), ['127.0.0.66'], 80)
  return async () => { await cleanup(f.peers) }
}, true)
await scenario('R1 flood, 6 hosts × 14 (victim caps 40 total, 8 per IP)', '≤ 40 total, ≤ 8 per IP', { seederLimits: { limits: { maxConnections: 40, maxConnectionsPerIp: 8 } } }, async hs => {
  const f = await connectionFlood(hs.fx.addr(hs.seeder), Array.from({ length: 6 }, (_, i) => `127.0.0.${70 + i}`), 14)
  return async () => { await cleanup(f.peers) }
}, true)
await scenario('R2 slowloris, 60 sockets at the seeder (upgrade timeout 10 s)', `${DEFAULT_LIMITS.maxIncomingPendingConnections} pending slots`, {}, async hs => {
  const a = await slowloris(hs.fx.addr(hs.seeder), '127.0.0.67', 60)
  return async () => { await cleanup([], a.sockets) }
}, true)
await scenario('R3 stream flood, 2000 SYNs', `${DEFAULT_LIMITS.maxStreamOpensPer10s} opens / 10 s`, {}, async hs => {
  const p = await startRawYamuxPeer({ localAddress: '127.0.0.69' })
  const raw = await p.connect(hs.fx.addr(hs.seeder))
  streamFlood(raw, 2000)
  await waitFor(() => raw.closed(), 10_000, 'close')
  return async () => { await cleanup([p]) }
}, true)
await scenario('R5 giant yamux frame (0xFFFFFFFF), 64 MiB pushed', `frame ≤ ${DEFAULT_LIMITS.maxStreamWindowSize} B`, {}, async hs => {
  const p = await startRawYamuxPeer({ localAddress: '127.0.0.64' })
  const raw = await p.connect(hs.fx.addr(hs.seeder))
  raw.rawSend(yamuxHeader(YAMUX_DATA, YAMUX_FLAG_SYN, 101, 0xFFFFFFFF))
  const chunk = new Uint8Array(256 * 1024)
  for (let sent = 0; sent < 64 * 1024 * 1024 && !raw.closed(); sent += chunk.length) {
    try { if (!raw.rawSend(chunk)) await raw.drained() } catch { break }
    await new Promise(resolve => setImmediate(resolve))
  }
  return async () => { await cleanup([p]) }
}, true)
await scenario('R6 ping flood, never reading', `${DEFAULT_LIMITS.maxYamuxPingsPer10s} pings / 10 s`, {}, async hs => {
  const p = await startRawYamuxPeer({ localAddress: '127.0.0.65' })
  const raw = await p.connect(hs.fx.addr(hs.seeder))
  await pingFloodNoRead(raw, 2_000_000)
  return async () => { await cleanup([p]) }
}, true)
await scenario('R6 never-reading peer, ping cap lifted', `${DEFAULT_LIMITS.maxConnectionWriteChunks} queued chunks`, { seederLimits: { limits: { maxYamuxPingsPer10s: 1e9 } } }, async hs => {
  const p = await startRawYamuxPeer({ localAddress: '127.0.0.63' })
  const raw = await p.connect(hs.fx.addr(hs.seeder))
  await pingFloodNoRead(raw, 2_000_000)
  return async () => { await cleanup([p]) }
}, true)
await scenario('R9 Sybil, 40 identities from 1 host, 2 misbehave', 'IP banned after 2 bans', {}, async hs => {
  const s = await sybil(hs.fx.addr(hs.seeder), '127.0.0.68', 40)
  for (const c of s.connections.filter(c => !c.closed()).slice(0, 2)) streamFlood(c, 400)
  await waitFor(() => hs.seeder.swarm?.isAddressBanned('127.0.0.68') === true, 10_000, 'ip ban')
  return async () => { await cleanup(s.peers) }
}, true)

console.log(`honest 8 MiB download from one seeder without attack: median ${(baseMs / 1000).toFixed(2)} s of ${base.map(ms => (ms / 1000).toFixed(2)).join(', ')} s`)
console.log('| attack | limit | honest download beside it | speed vs. no attack | event-loop p99 / max | RSS growth |')
console.log('|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(`| ${r.attack} | ${r.limit} | ${(r.honestMs / 1000).toFixed(2)} s | ${(100 * baseMs / r.honestMs).toFixed(0)} % | ${r.w.p99Ms.toFixed(0)} / ${r.w.maxMs.toFixed(0)} ms | ${r.w.rssGrowthMiB.toFixed(0)} MiB |`)
}
process.exit(0)
