/**
 * The emulated-LAN benchmark: N hosts in network namespaces behind a bridge,
 * the origin behind a slower link; doswarm scenarios and the HTTP-only and
 * WebTorrent baselines on the same namespaces and links, in one run.
 *
 *   node dist/bench/lan/run.js --n 20 --size 256MiB \
 *     --scenarios flash,staggered,late,churn,corrupt --baselines http,webtorrent
 *
 * Needs root, iproute2 and tc (exit 3 with a one-line reason otherwise).
 * Results are merged into docs/benchmarks/lan-n<N>-<size>.json (one entry per
 * system/scenario, newest wins), so a long run can be split into several
 * invocations; `node dist/bench/lan/plot.js FILE` draws the figures.
 */
import { existsSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cliArgs, sizeLabel } from '../lib/args.js'
import { cli, machineFacts, randomFile, repoRoot, scratchDir, sha256File, warnIfLoaded } from '../lib/fixture.js'
import { atExit, run, startChild, type Child } from '../lib/proc.js'
import { commandLine, cutLine, fmt, writeJson } from '../lib/report.js'
import type { Content, System } from './hosts.js'
import { LanUnavailableError, ORIGIN_IP, checkLanRequirements, qdiscSentBytes, setupLan, teardownLan, nsExec, type Lan } from './netns.js'
import { runDaemonScenario } from './daemons.js'
import { runScenario, type OriginCounter, type PlanEntry, type RunMode, type RunResult, type Scenario } from './scenarios.js'
import { runKey, summaryTable } from './table.js'
import { originCounter } from './origin-counter.js'

const args = cliArgs(`
Usage: node dist/bench/lan/run.js [options]     (as root)

Sets up N+1 host namespaces (the extra one is the late joiner / the
malicious peer), a bridge namespace and an origin namespace, runs the chosen
doswarm scenarios and baselines one after another on them, and tears it all
down again (also on Ctrl-C or a crash; \`node dist/bench/lan/setup.js down\`
removes leftovers). Exit 3 when not root or ip/tc are missing.`, {
  n: { type: 'string', default: '5', help: 'number of hosts' },
  size: { type: 'string', default: '64MiB', help: 'file size' },
  'piece-size': { type: 'string', default: '1MiB', help: 'piece size (doswarm manifest and the torrent)' },
  scenarios: { type: 'string', default: 'flash', help: 'doswarm scenarios: flash,staggered,late,churn,corrupt (or none)' },
  mode: { type: 'string', default: 'get', help: 'doswarm scenarios as: get (a `doswarm get` process per host and download) or daemon (a `doswarm serve` per host, started and connected before the job is submitted to its control API)' },
  'warmup-s': { type: 'string', default: '30', help: 'daemon mode: longest wait, once every daemon answers, for them to connect to each other before the job is submitted' },
  baselines: { type: 'string', default: 'http', help: 'baselines: http,webtorrent (or none)' },
  'host-mbit': { type: 'string', default: '100', help: 'host link rate, Mbit/s each way' },
  'origin-mbit': { type: 'string', default: '50', help: 'origin link rate, Mbit/s each way' },
  'delay-ms': { type: 'string', default: '0', help: 'one-way netem delay on every veth end, ms' },
  'stagger-s': { type: 'string', default: '2', help: 'staggered: seconds between two arrivals' },
  churn: { type: 'string', default: '0.25', help: 'churn: share of hosts killed mid-download' },
  'churn-at': { type: 'string', default: '1', help: 'churn: kill time as a share of the lower bound (nodes start fetching from HTTP only after --http-delay and start-up)' },
  'no-seed': { type: 'boolean', help: 'doswarm/WebTorrent nodes exit after their own download (default: seed until all are done)' },
  prefix: { type: 'string', default: 'dswlan-', help: 'namespace name prefix' },
  'timeout-s': { type: 'string', help: 'deadline per run (default: 1.5 × the HTTP-only time N·S/u_origin + 120 s)' },
  json: { type: 'string', help: 'results file (default: docs/benchmarks/lan-n<N>-<size>.json); existing entries are kept unless re-run' },
  logs: { type: 'string', help: 'keep every doswarm process\'s stderr (get or daemon) in this directory, one file per run and host' },
  fresh: { type: 'boolean', help: 'start a new results file instead of merging' },
  tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
})

const N = args.num('n')
const size = args.bytes('size')
const pieceSize = args.bytes('piece-size')
const links = { hostMbit: args.num('host-mbit'), originMbit: args.num('origin-mbit') }
const delayMs = args.num('delay-ms')
const prefix = args.str('prefix')
const seed = !args.flag('no-seed')
const scenarios = args.list('scenarios').filter(s => s !== 'none') as Scenario[]
const baselines = args.list('baselines').filter(s => s !== 'none') as System[]
const KNOWN_SCENARIOS = ['flash', 'staggered', 'late', 'churn', 'corrupt']
const mode = args.str('mode') as RunMode
if (mode !== 'get' && mode !== 'daemon') throw new Error('--mode: get or daemon')
if (!Number.isInteger(N) || N < 1) throw new Error('--n: a whole number ≥ 1')
for (const s of scenarios) if (!KNOWN_SCENARIOS.includes(s)) throw new Error(`--scenarios: unknown ${s}`)
for (const b of baselines) if (b !== 'http' && b !== 'webtorrent') throw new Error(`--baselines: unknown ${b}`)
const httpOnlyS = (N * size * 8) / (links.originMbit * 1e6)
const timeoutMs = (args.optStr('timeout-s') !== undefined ? args.num('timeout-s') : 1.5 * httpOnlyS + 120) * 1000
const sizeTag = sizeLabel(size).replace(' ', '')
const jsonPath = resolve(args.optStr('json') ?? join(repoRoot(), `docs/benchmarks/lan-n${N}-${sizeTag}.json`))
const WEBTORRENT_DIR = join(repoRoot(), 'bench/webtorrent')
/** this compiled script's folder (dist/bench/lan, or another outDir): origin-host.js and evil-host.js are beside it */
const here = dirname(fileURLToPath(import.meta.url))

async function readyLine (c: Child, what: string): Promise<Record<string, unknown>> {
  const l = await c.waitForLine(x => x.includes('"ready":true'), 30_000)
  process.stderr.write(`  ${what} ready\n`)
  return JSON.parse(l) as Record<string, unknown>
}

function plan (lan: Lan, scenario: Scenario, lb: number, evilAddr?: string): PlanEntry[] {
  const main = lan.hosts.slice(0, N)
  const entries: PlanEntry[] = main.map((host, index) => ({ host, index, startAtMs: 0 }))
  switch (scenario) {
    case 'flash': break
    case 'staggered':
      entries.forEach((e, i) => { e.startAtMs = i * args.num('stagger-s') * 1000 })
      break
    case 'late':
      entries.push({ host: lan.hosts[N] as Lan['hosts'][number], index: N })
      break
    case 'churn': {
      const k = Math.max(1, Math.round(N * args.num('churn')))
      for (const e of entries.slice(N - k)) e.killAtMs = args.num('churn-at') * lb * 1000
      break
    }
    case 'corrupt':
      if (evilAddr === undefined) throw new Error('corrupt: no malicious peer')
      for (const e of entries) e.peers = [evilAddr]
      break
  }
  return entries
}

/** Merge `results` into the results file (earlier invocations of the same N and size are kept; a re-run system/scenario replaces its entry). */
async function save (results: RunResult[], facts: ReturnType<typeof machineFacts>): Promise<RunResult[]> {
  let previous: { runs?: RunResult[], invocations?: Array<{ command: string, machine: { date: string } }> } = {}
  if (!args.flag('fresh') && existsSync(jsonPath)) previous = JSON.parse(await readFile(jsonPath, 'utf8')) as typeof previous
  if (args.flag('fresh') && savedOnce) previous = JSON.parse(await readFile(jsonPath, 'utf8')) as typeof previous
  const key = runKey
  const merged = [...(previous.runs ?? []).filter(r => !results.some(x => key(x) === key(r))), ...results]
  const invocation = { command: commandLine(), machine: facts, runs: results.map(key) }
  // this invocation's entry replaces the one written after its previous run
  const others = (previous.invocations ?? []).filter(i => !(i.command === invocation.command && i.machine.date === facts.date))
  await writeJson(jsonPath, {
    benchmark: 'lan',
    n: N,
    size,
    pieceSize,
    links: { ...links, delayMs },
    seed,
    lowerBoundFlashS: Math.max((size * 8) / (links.hostMbit * 1e6), (size * 8) / (links.originMbit * 1e6), (N * size * 8) / ((links.originMbit + N * links.hostMbit) * 1e6)),
    invocations: [...others, invocation],
    runs: merged
  })
  savedOnce = true
  return merged
}
let savedOnce = false

async function main (): Promise<void> {
  try {
    checkLanRequirements()
  } catch (err) {
    if (err instanceof LanUnavailableError) {
      process.stderr.write(`bench/lan: ${err.message}\n`)
      process.exit(3)
    }
    throw err
  }
  if (baselines.includes('webtorrent') && !existsSync(join(WEBTORRENT_DIR, 'node_modules/webtorrent'))) {
    process.stderr.write('bench/lan: the WebTorrent baseline is not installed: run bench/webtorrent/install.sh first\n')
    process.exit(3)
  }
  warnIfLoaded()
  const facts = machineFacts()
  const scratch = await scratchDir('lan', args.optStr('tmp'))
  atExit(() => { teardownLan(prefix) })
  const results: RunResult[] = []
  let lan: Lan | undefined
  try {
    process.stderr.write(`${sizeLabel(size)}: writing random file, manifest${baselines.includes('webtorrent') ? ' and torrent' : ''}…\n`)
    const file = join(scratch.dir, 'content.bin')
    await randomFile(file, size)
    const sha256 = await sha256File(file)
    const originUrl = `http://${ORIGIN_IP}:8080/content`
    const trackerUrl = `http://${ORIGIN_IP}:8000/announce`
    const keyOut = await cli(['keygen', '--out', join(scratch.dir, 'publisher.key')])
    const publicKey = keyOut.trim().split('\n').pop() ?? ''
    const manifest = join(scratch.dir, 'content.manifest')
    await cli(['publish', file, '--key', join(scratch.dir, 'publisher.key'), '--origin', originUrl, '--piece-size', String(pieceSize), '--out', manifest])
    const content: Content = { size, sha256, manifest, publicKey, originUrl }
    if (baselines.includes('webtorrent')) {
      content.torrent = join(scratch.dir, 'content.torrent')
      await run(process.execPath, [join(WEBTORRENT_DIR, 'make-torrent.mjs'), file, content.torrent, originUrl, trackerUrl, String(pieceSize)], { name: 'make-torrent', timeoutMs: 300_000 })
    }

    process.stderr.write(`setting up ${N}+1 hosts (${links.hostMbit} Mbit/s), origin (${links.originMbit} Mbit/s)${delayMs > 0 ? `, ${delayMs} ms per veth end` : ''}, prefix ${prefix}…\n`)
    lan = setupLan({ prefix, hosts: N + 1, hostMbit: links.hostMbit, originMbit: links.originMbit, delayMs })
    const [ocmd, oargs] = nsExec(lan.origin.ns, process.execPath, [join(here, 'origin-host.js'), '--file', file, '--bind', ORIGIN_IP, '--port', '8080'])
    const originProc = startChild(ocmd, oargs, { name: 'origin', timeoutMs: 24 * 3600_000 })
    await readyLine(originProc, 'origin')
    const origin = originCounter(originProc, lan.origin.ns)
    const lb = (size * 8) / (links.originMbit * 1e6)

    let runIndex = 0
    const runOne = async (system: System, scenario: Scenario, extra?: { evilAddr?: string, notes?: () => Record<string, unknown>, wtNode?: string }): Promise<void> => {
      const dir = join(scratch.dir, `run-${++runIndex}`)
      await mkdir(dir, { recursive: true })
      const daemonMode = system === 'doswarm' && mode === 'daemon'
      process.stderr.write(`${system} ${scenario}${daemonMode ? ' (daemon mode)' : ''} (N=${N})…\n`)
      const spec = {
        system, scenario, plan: plan(lan as Lan, scenario, lb, extra?.evilAddr), dir, content, links, timeoutMs,
        seed: system !== 'http' && seed, origin, ...(extra?.wtNode !== undefined ? { wtNode: extra.wtNode } : {}),
        ...(extra?.notes !== undefined ? { notes: extra.notes } : {}),
        ...(args.optStr('logs') !== undefined ? { logDir: resolve(args.str('logs')) } : {})
      }
      const r = daemonMode
        ? await runDaemonScenario({ ...spec, mode: 'daemon', warmupS: args.num('warmup-s') })
        : await runScenario(spec)
      results.push(r)
      await save(results, facts)
      process.stderr.write(`  ${system} ${scenario}${daemonMode ? ' (daemon)' : ''}: ${fmt(r.originCopies, 3)} origin copies (${fmt(r.originRelayedCopies, 3)} relayed, ${fmt(r.originWireCopies, 3)} on its link, ${fmt(r.originKeptCopies, 3)} kept by the nodes), last done ${fmt(r.lastCompletionS, 1)} s (${fmt(r.ratioToLowerBound, 2)} × lower bound ${fmt(r.lowerBoundS, 1)} s), ${fmt(r.cpuSecondsPerGiB, 1)} CPU s/GiB, peak RSS max ${fmt(r.peakRssMaxMB)} MB, ${r.failures} failed${r.late !== undefined ? `; late joiner ${fmt(r.late.ownTimeS, 1)} s, origin sent ${r.late.originBytesDuring} B meanwhile` : ''}\n`)
      if (r.httpCut !== undefined) process.stderr.write(`    ${cutLine(r.httpCut, r.httpBytesDuplicate ?? 0)}\n`)
    }

    for (const scenario of scenarios) {
      if (scenario !== 'corrupt') { await runOne('doswarm', scenario); continue }
      const evilHost = lan.hosts[N] as Lan['hosts'][number]
      const [ecmd, eargs] = nsExec(evilHost.ns, process.execPath, [join(here, 'evil-host.js'), '--manifest', manifest, '--trust', publicKey, '--bind', evilHost.ip])
      const evil = startChild(ecmd, eargs, { name: 'evil peer', timeoutMs: 24 * 3600_000 })
      const ready = await readyLine(evil, 'malicious peer')
      const lastStats = (): Record<string, unknown> => {
        const l = [...evil.lines].reverse().find(x => x.startsWith('{"sessions"'))
        return { maliciousPeer: { ns: evilHost.ns, behaviour: 'corrupt-all', ...(l !== undefined ? JSON.parse(l) as Record<string, unknown> : {}) } }
      }
      await runOne('doswarm', 'corrupt', { evilAddr: String(ready.addr), notes: lastStats })
      evil.signal('SIGINT')
      await evil.exited
    }
    for (const system of baselines) {
      if (system === 'webtorrent') {
        const [tcmd, targs] = nsExec(lan.origin.ns, process.execPath, [join(WEBTORRENT_DIR, 'tracker.mjs'), ORIGIN_IP, '8000'])
        const tracker = startChild(tcmd, targs, { name: 'tracker', timeoutMs: 24 * 3600_000 })
        await readyLine(tracker, 'tracker')
        await runOne('webtorrent', 'flash', { wtNode: join(WEBTORRENT_DIR, 'wt-node.mjs') })
        tracker.signal('SIGINT')
        await tracker.exited
      } else {
        await runOne(system, 'flash')
      }
    }
    originProc.signal('SIGINT')
    await originProc.exited
  } finally {
    const removed = teardownLan(prefix)
    process.stderr.write(`teardown: removed ${removed.length} namespaces\n`)
    await scratch.remove()
  }

  const merged = await save(results, facts)
  process.stdout.write(`\n${summaryTable(merged)}\n\nresults: ${jsonPath}\n`)
  if (results.some(r => r.failures > 0)) process.exitCode = 1
}

await main()
