/**
 * One peer to one peer: a `doswarm seed` process serving a file and a
 * `doswarm get` leecher that has it as its only peer, against the raw libp2p
 * baseline (bench/raw-libp2p.ts: the same TCP + Noise + yamux stack, two
 * processes, one stream, nothing framed, hashed or stored), alternating in
 * one run. The origin stays reachable (the leecher may use it as a last
 * resort) and its bytes are reported: they should be ~0.
 *
 * A third transfer per round is the ceiling of any receiver that does what a
 * doswarm node must: the same raw stream, with the receiver SHA-256ing every
 * piece, writing the bytes to a file as they arrive, fdatasyncing it and
 * hashing the whole stream (raw-libp2p.ts --hash-piece --store) — no
 * framing, no copies, no second pass. doswarm is reported against both.
 *
 *   node .dist-bench/bench/peer-throughput.js --size 1GiB --rounds 3
 */
import { rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cliArgs, sizeLabel } from './lib/args.js'
import { CLI_ARGV, MB, loadNow, machineFacts, makeContent, repoRoot, scratchDir, sha256File, warnIfLoaded, type Content } from './lib/fixture.js'
import { cpuSecondsOf, startChild, type Child } from './lib/proc.js'
import { commandLine, fmt, markdownTable, median, writeJson } from './lib/report.js'
import { rawPair, slim, type RawResult } from './raw-libp2p.js'
import { NODE_FLAGS } from '../src/cli/node-flags.js'

const args = cliArgs(`
Usage: node .dist-bench/bench/peer-throughput.js [options]

A doswarm seeder and one leecher (--peer = the seeder, --no-mdns, loopback)
against a raw libp2p stream between two processes, alternating. Reports the
leecher's bytesFromPeers / durationMs, the raw stream rate, the rate of a
raw stream whose receiver verifies and stores (the ceiling of any verifying,
durable receiver here) and the ratios.`, {
  size: { type: 'string', default: '1GiB', help: 'file size' },
  'piece-size': { type: 'string', default: '1MiB', help: 'manifest piece size (and the raw baseline\'s send size)' },
  rounds: { type: 'string', default: '3', help: 'transfers of each kind' },
  'timeout-s': { type: 'string', default: '900', help: 'deadline for one transfer' },
  'cpu-prof': { type: 'string', help: 'directory: run the seeder, the leechers and the raw pair with node --cpu-prof, profiles kept there' },
  json: { type: 'string', help: 'results file (default: <repo>/docs/benchmarks/peer-throughput.json)' },
  tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
})

const size = args.bytes('size')
const pieceSize = args.bytes('piece-size')
const rounds = args.num('rounds')
const timeoutMs = args.num('timeout-s') * 1000
const cpuProf = args.optStr('cpu-prof')
const nodeFlags = cpuProf !== undefined ? ['--cpu-prof', '--cpu-prof-dir', resolve(cpuProf)] : []
const jsonPath = resolve(args.optStr('json') ?? join(repoRoot(), 'docs/benchmarks/peer-throughput.json'))

interface LeechRun {
  round: number
  ok: boolean
  /** bytesFromPeers / durationMs, MB/s (the CLI's durationMs: start of `get` → verified file in place) */
  mbps: number
  /** size / (spawn → exit), MB/s */
  wallMbps: number
  wallMs: number
  durationMs?: number
  bytesFromPeers?: number
  bytesFromHttp?: number
  originBytes: number
  maxRssBytes?: number
  cpuSeconds?: number
  /** of which system (kernel) time */
  cpuSysSeconds?: number
  seederCpuSeconds: number
  error?: string
}

async function leech (round: number, dir: string, content: Content, seederAddr: string, seeder: Child): Promise<LeechRun> {
  const out = join(dir, `out-${round}.bin`)
  const cache = join(dir, `leech-${round}`)
  const before = content.origin.bytesSent
  const seederCpu0 = cpuSecondsOf(seeder.pid)
  const r = await startChild(process.execPath, [...nodeFlags, ...CLI_ARGV, 'get', content.manifest, '--out', out, '--trust', content.publicKey, '--cache', cache,
    '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', seederAddr, '--no-mdns', '--json'], { name: `leecher #${round}`, timeoutMs, measure: true, measureDir: dir }).exited
  const rec: LeechRun = {
    round, ok: false, mbps: NaN, wallMbps: size / MB / (r.wallMs / 1000), wallMs: r.wallMs,
    originBytes: content.origin.bytesSent - before,
    seederCpuSeconds: cpuSecondsOf(seeder.pid) - seederCpu0,
    ...(r.maxRssBytes !== undefined ? { maxRssBytes: r.maxRssBytes } : {}),
    ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
    ...(r.cpuSysSeconds !== undefined ? { cpuSysSeconds: r.cpuSysSeconds } : {})
  }
  try {
    if (r.code !== 0) throw new Error(`exit ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().slice(-500)}`)
    const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { durationMs: number, bytesFromPeers: number, bytesFromHttp: number }
    Object.assign(rec, { durationMs: j.durationMs, bytesFromPeers: j.bytesFromPeers, bytesFromHttp: j.bytesFromHttp })
    rec.mbps = j.bytesFromPeers / MB / (j.durationMs / 1000)
    if ((await stat(out)).size !== size || await sha256File(out) !== content.sha256) throw new Error('output differs from the source file')
    rec.ok = true
  } catch (err) {
    rec.error = (err as Error).message
    process.stderr.write(`leecher round ${round}: ${rec.error}\n`)
  } finally {
    await rm(out, { force: true })
    await rm(cache, { recursive: true, force: true })
  }
  return rec
}

async function main (): Promise<void> {
  warnIfLoaded()
  const facts = machineFacts()
  const scratch = await scratchDir('peer-throughput', args.optStr('tmp'))
  const leeches: LeechRun[] = []
  const raws: RawResult[] = []
  const ceilings: RawResult[] = []
  let seederStop: unknown
  let seedImportMs = NaN
  let loadBefore: number[] = []
  try {
    process.stderr.write(`${sizeLabel(size)}: writing random file and manifest…\n`)
    const content = await makeContent(scratch.dir, size, pieceSize)
    const t0 = performance.now()
    const seeder = startChild(process.execPath, [...nodeFlags, ...CLI_ARGV, 'seed', content.manifest, content.file, '--trust', content.publicKey,
      '--cache', join(scratch.dir, 'seeder'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--json'], { name: 'seeder', timeoutMs: timeoutMs * (2 * rounds + 2) })
    const ready = JSON.parse(await seeder.waitForLine(l => l.includes('"seeding":true'), timeoutMs)) as { listen: string[] }
    seedImportMs = performance.now() - t0
    const seederAddr = ready.listen.find(a => a.startsWith('/ip4/127.')) ?? ready.listen[0] ?? ''
    process.stderr.write(`seeder ready at ${seederAddr} (import took ${fmt(seedImportMs / 1000, 1)} s)\n`)
    loadBefore = loadNow()
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? ['raw', 'ceiling', 'doswarm'] : ['doswarm', 'ceiling', 'raw']
      for (const kind of order) {
        if (kind === 'raw' || kind === 'ceiling') {
          // the raw pair runs under the same V8 flags as the CLI: the comparison is of doswarm's work, not of heap settings
          const verify = kind === 'ceiling' ? { hashPiece: pieceSize, durable: true } : {}
          const r = await rawPair({ bytes: size, chunk: pieceSize, dir: scratch.dir, timeoutMs, nodeFlags: [...nodeFlags, ...NODE_FLAGS], ...verify })
          ;(kind === 'raw' ? raws : ceilings).push(r)
          process.stderr.write(`  round ${round} ${kind === 'raw' ? 'raw libp2p  ' : 'raw + verify + store'} ${fmt(r.mbps)} MB/s${r.ok ? '' : ` FAILED: ${r.error ?? ''}`}\n`)
        } else {
          const r = await leech(round, scratch.dir, content, seederAddr, seeder)
          leeches.push(r)
          process.stderr.write(`  round ${round} doswarm peer ${fmt(r.mbps)} MB/s (bytesFromPeers/durationMs), origin sent ${r.originBytes} B${r.ok ? '' : ' FAILED'}\n`)
        }
      }
    }
    seeder.signal('SIGINT')
    const s = await Promise.race([seeder.exited, new Promise<undefined>(resolve => { setTimeout(() => { resolve(undefined) }, 15_000) })])
    seederStop = s === undefined ? { error: 'seeder did not stop within 15 s' } : { code: s.code, last: s.stdout.trim().split('\n').pop() }
    seeder.signal('SIGKILL')
    await content.origin.close()
  } finally {
    await scratch.remove()
  }

  const okL = leeches.filter(r => r.ok)
  const okR = raws.filter(r => r.ok)
  const okC = ceilings.filter(r => r.ok)
  const raw = median(okR.map(r => r.mbps))
  const ceiling = median(okC.map(r => r.mbps))
  const rawWall = median(okR.map(r => size / MB / (r.wallMs / 1000)))
  const ds = median(okL.map(r => r.mbps))
  const dsWall = median(okL.map(r => r.wallMbps))
  const summary = {
    rawMbps: raw,
    doswarmMbps: ds,
    ratio: ds / raw,
    /** raw stream whose receiver verifies each piece and stores durably: the ceiling of any such receiver */
    ceilingMbps: ceiling,
    ceilingRatio: ceiling / raw,
    /** doswarm against that ceiling */
    ofCeiling: ds / ceiling,
    rawWallMbps: rawWall,
    doswarmWallMbps: dsWall,
    wallRatio: dsWall / rawWall,
    originBytesMax: Math.max(0, ...leeches.map(r => r.originBytes)),
    leecherPeakRssBytes: Math.max(0, ...okL.map(r => r.maxRssBytes ?? 0)),
    leecherCpuSeconds: median(okL.map(r => r.cpuSeconds ?? NaN)),
    seederCpuSeconds: median(okL.map(r => r.seederCpuSeconds)),
    rawReceiverCpuSeconds: median(okR.map(r => r.receiver?.cpuSeconds ?? NaN)),
    rawSenderCpuSeconds: median(okR.map(r => r.sender?.cpuSeconds ?? NaN)),
    ceilingReceiverCpuSeconds: median(okC.map(r => r.receiver?.cpuSeconds ?? NaN)),
    ceilingSenderCpuSeconds: median(okC.map(r => r.sender?.cpuSeconds ?? NaN)),
    failures: leeches.length - okL.length + raws.length - okR.length + ceilings.length - okC.length
  }
  const ceilingWall = median(okC.map(r => size / MB / (r.wallMs / 1000)))
  const table = markdownTable(['transfer', 'median MB/s', 'vs raw', 'vs raw + verify + store', 'spawn→exit MB/s', 'vs raw (spawn→exit)', 'CPU s receiver / sender', 'receiver peak RSS MB'], [
    ['raw libp2p stream (1 stream, no framing/hash/store)', fmt(raw), '1.00', fmt(raw / ceiling, 2), fmt(rawWall), '1.00',
      `${fmt(summary.rawReceiverCpuSeconds, 1)} / ${fmt(summary.rawSenderCpuSeconds, 1)}`, fmt(median(okR.map(r => (r.receiver?.maxRssBytes ?? NaN) / MB)))],
    ['raw + verify + store (SHA-256 per piece, written, fdatasync, whole hash)', fmt(ceiling), fmt(summary.ceilingRatio, 2), '1.00', fmt(ceilingWall), fmt(ceilingWall / rawWall, 2),
      `${fmt(summary.ceilingReceiverCpuSeconds, 1)} / ${fmt(summary.ceilingSenderCpuSeconds, 1)}`, fmt(median(okC.map(r => (r.receiver?.maxRssBytes ?? NaN) / MB)))],
    ['doswarm leecher ← seeder (bytesFromPeers / durationMs)', fmt(ds), fmt(summary.ratio, 2), fmt(summary.ofCeiling, 2), fmt(dsWall), fmt(summary.wallRatio, 2),
      `${fmt(summary.leecherCpuSeconds, 1)} / ${fmt(summary.seederCpuSeconds, 1)}`, fmt(summary.leecherPeakRssBytes / MB)]
  ])
  process.stdout.write(`\n${table}\n\n${sizeLabel(size)}, ${sizeLabel(pieceSize)} pieces, median of ${rounds}; MB = 10^6 bytes. Origin bytes during doswarm runs: max ${summary.originBytesMax}. Failures: ${summary.failures}.\n`)
  const file = await writeJson(jsonPath, {
    benchmark: 'peer-throughput', command: commandLine(), machine: facts, loadBefore, loadAfter: loadNow(), size, pieceSize, rounds,
    seedImportMs, seederStop, summary, leeches, raws: raws.map(r => ({ ...r, receiver: slim(r.receiver), sender: slim(r.sender) })),
    ceilings: ceilings.map(r => ({ ...r, receiver: slim(r.receiver), sender: slim(r.sender) }))
  })
  process.stdout.write(`results: ${file}\n`)
  if (summary.failures > 0) process.exitCode = 1
}

await main()
