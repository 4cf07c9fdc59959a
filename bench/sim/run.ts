/**
 * The simulation benchmark: drive the real scheduling code (OriginCoordinator,
 * PiecePicker, SourceHealth) for N simulated nodes in virtual time and report
 * origin copies and completion times.
 *
 *   node dist/bench/sim/run.js --n 10,100,1000 --size 64MiB --seed 1
 *
 * Writes docs/benchmarks/sim-<size>-n<N>.json per N (as each finishes) and
 * then the plot (see plot.ts) over every sim-<size>-n*.json in that folder.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cliArgs, sizeLabel } from '../lib/args.js'
import { repoRoot } from '../lib/fixture.js'
import { defaultConfig } from './config.js'
import { plotSeries } from './plot.js'
import { simulate } from './world.js'

const args = cliArgs('node dist/bench/sim/run.js [options]', {
  n: { type: 'string', default: '10,100,1000', help: 'comma-separated node counts' },
  size: { type: 'string', default: '64MiB', help: 'file size' },
  piece: { type: 'string', default: '1MiB', help: 'piece size' },
  seed: { type: 'string', default: '1', help: 'PRNG seed (a run is deterministic for a seed)' },
  spread: { type: 'string', default: '0', help: 'start times uniform over this many ms (0: flash crowd)' },
  ownership: { type: 'string', default: 'real', help: "'real'; 'blind' (coordinator never told of downloaders); 'off' (no coordination)" },
  discovery: { type: 'string', default: 'mdns', help: "'mdns' (dial up to 200 random nodes) or 'static' (node 0 is everyone's static peer)" },
  latency: { type: 'string', default: String(defaultConfig().latencyMs), help: 'one-way latency between nodes, ms' },
  handshake: { type: 'string', default: String(defaultConfig().handshakeMs), help: 'dial → link ready, ms (each dial adds up to as much again)' },
  'node-mbit': { type: 'string', default: String(defaultConfig().nodeUpMbps), help: 'each node\'s uplink and downlink, Mbit/s' },
  'origin-mbit': { type: 'string', default: String(defaultConfig().originUpMbps), help: 'the origin\'s uplink, Mbit/s' },
  'max-connections': { type: 'string', default: String(defaultConfig().maxConnections), help: "connections per node (libp2p maxConnections); 'inf': no limit" },
  'max-links': { type: 'string', default: String(defaultConfig().maxLinks), help: 'swarm links per node' },
  'max-time': { type: 'string', default: String(defaultConfig().maxTimeMs / 1000), help: 'stop at this virtual time even if nodes are still downloading, s' },
  out: { type: 'string', default: 'docs/benchmarks', help: 'output folder' },
  'no-plot': { type: 'boolean', help: 'skip the PNG' },
  progress: { type: 'boolean', help: 'print virtual time, events, heap and RSS to stderr every 2 virtual s' }
})

const size = args.bytes('size')
const ownership = args.str('ownership')
if (ownership !== 'real' && ownership !== 'blind' && ownership !== 'off') throw new Error(`--ownership ${ownership}: 'real', 'blind' or 'off'`)
const discovery = args.str('discovery')
if (discovery !== 'mdns' && discovery !== 'static') throw new Error(`--discovery ${discovery}: 'mdns' or 'static'`)
const tag = `${sizeLabel(size).replace(/\s+/g, '')}${ownership !== 'real' ? `-${ownership}` : ''}${args.num('spread') > 0 ? `-spread${args.num('spread')}` : ''}${discovery !== 'mdns' ? `-${discovery}` : ''}${args.num('latency') !== defaultConfig().latencyMs ? `-lat${args.num('latency')}` : ''}${args.num('handshake') !== defaultConfig().handshakeMs ? `-hs${args.num('handshake')}` : ''}${args.str('max-connections') !== String(defaultConfig().maxConnections) ? `-conn${args.str('max-connections')}` : ''}${args.num('node-mbit') !== defaultConfig().nodeUpMbps || args.num('origin-mbit') !== defaultConfig().originUpMbps ? `-${args.num('node-mbit')}-${args.num('origin-mbit')}mbit` : ''}`
const maxConnections = args.str('max-connections') === 'inf' ? Infinity : args.num('max-connections')
if (!(maxConnections >= 1)) throw new Error(`--max-connections ${args.str('max-connections')}: a count ≥ 1 or 'inf'`)
for (const k of ['node-mbit', 'origin-mbit']) if (!(args.num(k) > 0)) throw new Error(`--${k} ${args.str(k)}: a rate > 0`)
const out = resolve(repoRoot(), args.str('out'))
await mkdir(out, { recursive: true })

for (const n of args.list('n').map(Number)) {
  if (!Number.isInteger(n) || n < 2) throw new Error(`--n: ${n} is not a node count ≥ 2`)
  const cfg = defaultConfig({
    n,
    fileBytes: size,
    pieceBytes: args.bytes('piece'),
    seed: args.num('seed'),
    startSpreadMs: args.num('spread'),
    ownership,
    maxLinks: args.num('max-links'),
    maxConnections,
    maxTimeMs: args.num('max-time') * 1000,
    latencyMs: args.num('latency'),
    handshakeMs: args.num('handshake'),
    nodeUpMbps: args.num('node-mbit'),
    nodeDownMbps: args.num('node-mbit'),
    originUpMbps: args.num('origin-mbit'),
    discovery: discovery as 'mdns' | 'static'
  })
  let peakRss = 0
  let peakHeap = 0
  const t0 = performance.now()
  const r = simulate(cfg, {
    onTick: (p, engine, c) => {
      const m = process.memoryUsage()
      peakRss = Math.max(peakRss, m.rss)
      peakHeap = Math.max(peakHeap, m.heapUsed)
      if (args.flag('progress') && p.t % 2000 === 0) {
        console.error(`  N=${n} t=${p.t / 1000} s: held ${p.held.toFixed(3)}, done ${p.done}, ${engine.executed} events, ${engine.pending} queued, ${c.dials} dials (${c.dialsLinked} linked), ` +
          `heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB, rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, wall ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      }
    }
  })
  const file = join(out, `sim-${tag}-n${n}.json`)
  await writeFile(file, JSON.stringify({ command: `node ${process.execArgv.join(' ')}${process.execArgv.length > 0 ? ' ' : ''}dist/bench/sim/run.js ${process.argv.slice(2).join(' ')}`, ...r, memory: { peakHeapMiB: Math.round(peakHeap / 2 ** 20), peakRssMiB: Math.round(peakRss / 2 ** 20), sampled: 'once a virtual second' } }, null, 1) + '\n')
  console.log(`N=${n}: ${r.completed}/${n} done, origin copies ${r.originCopies.toFixed(3)} (kept ${r.originCopiesUsed.toFixed(3)}), ` +
    `last ${(r.lastCompletionMs / 1000).toFixed(1)} s = ${r.ratioToBound.toFixed(2)}× bound ${(r.lowerBoundMs / 1000).toFixed(1)} s, ` +
    `median ${(r.medianCompletionMs / 1000).toFixed(1)} s, timeouts ${r.counters.timeouts}, view ${r.view.mean.toFixed(0)}, ` +
    `wall ${(r.wallMs / 1000).toFixed(1)} s, ${r.events} events, peak heap ${(peakHeap / 2 ** 20).toFixed(0)} MiB, rss ${(peakRss / 2 ** 20).toFixed(0)} MiB → ${file}`)
}
if (!args.flag('no-plot')) console.log(`plot → ${await plotSeries(out, tag)}`)
