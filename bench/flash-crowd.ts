/**
 * Flash crowd: N `doswarm get` processes started together on one host, each
 * with its own cache and loopback port, all given the first node's address as
 * `--peer`, against N `doswarm get --http-only` processes started together in
 * the same run. The counting origin tells how many copies of the file it
 * sent; every output is checked against the source's SHA-256.
 *
 *   node .dist-bench/bench/flash-crowd.js --n 5,10,20 --size 256MiB
 */
import { rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { sumCutStats, type HttpCutStats } from '../src/origin/cut.js'
import { cliArgs, sizeLabel } from './lib/args.js'
import { CLI_ARGV, MB, freePorts, loadNow, machineFacts, makeContent, repoRoot, scratchDir, sha256File, warnIfLoaded, type Content } from './lib/fixture.js'
import { startChild, type Child, type ChildResult } from './lib/proc.js'
import { commandLine, cutLine, fmt, markdownTable, max, median, min, writeJson } from './lib/report.js'

const args = cliArgs(`
Usage: node .dist-bench/bench/flash-crowd.js [options]

For each N: N doswarm nodes (--listen 127.0.0.1:<free port>, --peer = node 0,
--no-mdns, own cache) started together, then N HTTP-only downloads started
together, against one counting origin. Reports origin copies, savings, time
to the last completion, peak RSS and CPU seconds per node, failures.`, {
  n: { type: 'string', default: '5,10,20', help: 'crowd sizes, comma-separated' },
  size: { type: 'string', default: '256MiB', help: 'file size' },
  'piece-size': { type: 'string', default: '1MiB', help: 'manifest piece size' },
  seed: { type: 'boolean', help: 'swarm nodes keep serving after their download (get --seed) until every node is done' },
  'http-delay': { type: 'string', help: 'pass --http-delay S to the swarm nodes (CLI default: 5)' },
  'no-http-only': { type: 'boolean', help: 'skip the HTTP-only baseline' },
  'timeout-s': { type: 'string', default: '900', help: 'deadline for one crowd' },
  'cpu-prof': { type: 'string', help: 'directory: run swarm nodes with node --cpu-prof, profiles kept there' },
  json: { type: 'string', help: 'results file (default: <repo>/docs/benchmarks/flash-crowd.json)' },
  tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
})

const crowds = args.list('n').map(Number)
const size = args.bytes('size')
const pieceSize = args.bytes('piece-size')
const keepSeeding = args.flag('seed')
const httpDelay = args.optStr('http-delay')
const timeoutMs = args.num('timeout-s') * 1000
const cpuProf = args.optStr('cpu-prof')
const jsonPath = resolve(args.optStr('json') ?? join(repoRoot(), 'docs/benchmarks/flash-crowd.json'))
if (crowds.some(n => !Number.isInteger(n) || n < 1)) throw new Error('--n: whole numbers ≥ 1')

type Mode = 'swarm' | 'http-only'

interface NodeRecord {
  i: number
  ok: boolean
  code: number | null
  /** crowd start → this node's JSON line (verified file in place), ms */
  completionMs: number
  wallMs: number
  maxRssBytes?: number
  cpuSeconds?: number
  /** of which system (kernel) time */
  cpuSysSeconds?: number
  bytesFromHttp?: number
  bytesFromPeers?: number
  bytesToPeers?: number
  peersBanned?: number
  durationMs?: number
  /** HTTP requests this node cut short, by why (docs/API.md, httpCut) */
  httpCut?: HttpCutStats
  /** whole origin pieces a peer delivered first */
  httpBytesDuplicate?: number
  error?: string
}

interface CrowdRun {
  n: number
  mode: Mode
  originBytes: number
  originCopies: number
  originRequests: number
  /** crowd start → last JSON line, ms */
  lastCompletionMs: number
  /** [ms since crowd start, origin body bytes sent so far in this run], every 500 ms: when the origin was used */
  originTimeline: Array<[number, number]>
  nodes: NodeRecord[]
  failures: number
  /** Σ over the nodes: HTTP requests cut short, by why, and origin pieces a peer delivered first */
  httpCut: HttpCutStats
  httpBytesDuplicate: number
  load: { before: number[], after: number[] }
}

async function crowd (n: number, mode: Mode, dir: string, content: Content): Promise<CrowdRun> {
  const ports = mode === 'swarm' ? await freePorts(n) : []
  const first = `/ip4/127.0.0.1/tcp/${ports[0] ?? 0}`
  const before = { bytes: content.origin.bytesSent, requests: content.origin.requests, load: loadNow() }
  const children: Child[] = []
  const doneAt: Array<Promise<number>> = []
  const t0 = performance.now()
  const originTimeline: Array<[number, number]> = []
  const sampler = setInterval(() => { originTimeline.push([Math.round(performance.now() - t0), content.origin.bytesSent - before.bytes]) }, 500)
  for (let i = 0; i < n; i++) {
    const argv = [...CLI_ARGV, 'get', content.manifest, '--json', '--trust', content.publicKey, '--cache', join(dir, `cache-${i}`), '--out', join(dir, `out-${i}.bin`)]
    if (mode === 'http-only') argv.push('--http-only')
    else {
      // every node, node 0 included, is configured with node 0's address (node 0 recognises itself)
      argv.push('--listen', `/ip4/127.0.0.1/tcp/${ports[i] ?? 0}`, '--peer', first, '--no-mdns')
      if (httpDelay !== undefined) argv.push('--http-delay', httpDelay)
      if (keepSeeding) argv.push('--seed')
    }
    const flags = mode === 'swarm' && cpuProf !== undefined ? ['--cpu-prof', '--cpu-prof-dir', resolve(cpuProf)] : []
    const c = startChild(process.execPath, [...flags, ...argv], { name: `${mode} node ${i}`, timeoutMs, measure: true, measureDir: dir })
    children.push(c)
    doneAt.push(c.waitForLine(l => l.startsWith('{'), timeoutMs).then(() => performance.now() - t0, () => NaN))
  }
  const completions = await Promise.all(doneAt)
  clearInterval(sampler)
  // with --seed the swarm nodes serve until told to stop; SIGINT is a clean stop (exit 0).
  // HTTP-only nodes never seed and exit by themselves: a SIGINT between their JSON line
  // and their exit would end them with 130 and count a complete download as failed
  if (keepSeeding && mode === 'swarm') for (const c of children) c.signal('SIGINT')
  const results: ChildResult[] = await Promise.all(children.map(async c => await c.exited))
  const nodes: NodeRecord[] = []
  for (const [i, r] of results.entries()) {
    const rec: NodeRecord = {
      i, ok: false, code: r.code, completionMs: completions[i] ?? NaN, wallMs: r.wallMs,
      ...(r.maxRssBytes !== undefined ? { maxRssBytes: r.maxRssBytes } : {}),
      ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
    ...(r.cpuSysSeconds !== undefined ? { cpuSysSeconds: r.cpuSysSeconds } : {})
    }
    const out = join(dir, `out-${i}.bin`)
    try {
      const line = r.stdout.split('\n').find(l => l.startsWith('{')) ?? ''
      const j = JSON.parse(line === '' ? '{}' : line) as { ok?: boolean, bytesFromHttp: number, bytesFromPeers: number, bytesToPeers: number, peersBanned?: number, durationMs: number, httpCut?: HttpCutStats, httpBytesDuplicate?: number, error?: { code: string, message: string } }
      if (j.ok === true) Object.assign(rec, { bytesFromHttp: j.bytesFromHttp, bytesFromPeers: j.bytesFromPeers, bytesToPeers: j.bytesToPeers, peersBanned: j.peersBanned, durationMs: j.durationMs })
      if (j.ok === true && j.httpCut !== undefined) Object.assign(rec, { httpCut: j.httpCut, httpBytesDuplicate: j.httpBytesDuplicate ?? 0 })
      if (r.code !== 0 || j.ok !== true) throw new Error(`exit ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}: ${j.error !== undefined ? `${j.error.code} ${j.error.message}` : r.stderr.trim().slice(-500)}`)
      if ((await stat(out)).size !== size || await sha256File(out) !== content.sha256) throw new Error('output differs from the source file')
      rec.ok = true
    } catch (err) {
      rec.error = (err as Error).message
      process.stderr.write(`  ${mode} N=${n} node ${i}: ${rec.error}\n`)
    } finally {
      await rm(out, { force: true })
      await rm(join(dir, `cache-${i}`), { recursive: true, force: true })
    }
    nodes.push(rec)
  }
  const originBytes = content.origin.bytesSent - before.bytes
  const httpCut = sumCutStats(nodes.map(x => x.httpCut))
  return {
    n, mode, originBytes, originCopies: originBytes / size, originRequests: content.origin.requests - before.requests,
    lastCompletionMs: max(nodes.map(x => x.completionMs)), originTimeline, nodes, failures: nodes.filter(x => !x.ok).length,
    httpCut, httpBytesDuplicate: nodes.reduce((a, x) => a + (x.httpBytesDuplicate ?? 0), 0),
    load: { before: before.load, after: loadNow() }
  }
}

async function main (): Promise<void> {
  warnIfLoaded()
  const facts = machineFacts()
  const scratch = await scratchDir('flash-crowd', args.optStr('tmp'))
  const runs: CrowdRun[] = []
  try {
    process.stderr.write(`${sizeLabel(size)}: writing random file and manifest…\n`)
    const content = await makeContent(scratch.dir, size, pieceSize)
    for (const n of crowds) {
      const modes: Mode[] = args.flag('no-http-only') ? ['swarm'] : ['swarm', 'http-only']
      for (const mode of modes) {
        process.stderr.write(`N=${n} ${mode}…\n`)
        const r = await crowd(n, mode, scratch.dir, content)
        runs.push(r)
        process.stderr.write(`  N=${n} ${mode}: ${fmt(r.originCopies, 3)} origin copies, last done after ${fmt(r.lastCompletionMs / 1000, 1)} s, ${r.failures} failed\n`)
        process.stderr.write(`    ${cutLine(r.httpCut, r.httpBytesDuplicate)}\n`)
      }
    }
    await content.origin.close()
  } finally {
    await scratch.remove()
  }

  const summary = crowds.map(n => {
    const sw = runs.find(r => r.n === n && r.mode === 'swarm')
    const ho = runs.find(r => r.n === n && r.mode === 'http-only')
    const figures = (r: CrowdRun | undefined): Record<string, number> => ({
      originCopies: r?.originCopies ?? NaN,
      lastCompletionS: (r?.lastCompletionMs ?? NaN) / 1000,
      rssMedianMB: median(r?.nodes.map(x => (x.maxRssBytes ?? NaN) / MB) ?? []),
      rssMaxMB: max(r?.nodes.map(x => (x.maxRssBytes ?? NaN) / MB) ?? []),
      cpuMedianS: median(r?.nodes.map(x => x.cpuSeconds ?? NaN) ?? []),
      cpuMaxS: max(r?.nodes.map(x => x.cpuSeconds ?? NaN) ?? []),
      failures: r?.failures ?? NaN
    })
    const http = sw?.nodes.map(x => (x.bytesFromHttp ?? NaN) / pieceSize) ?? []
    return {
      n,
      swarm: figures(sw),
      httpOnly: figures(ho),
      savings: sw !== undefined && ho !== undefined ? 1 - sw.originBytes / ho.originBytes : NaN,
      /** pieces each swarm node took from HTTP */
      httpPiecesPerNode: { min: min(http), median: median(http), max: max(http), nodesUsingHttp: http.filter(x => x > 0).length, sum: http.reduce((a, b) => a + b, 0) },
      swarmOriginRequests: sw?.originRequests ?? NaN
    }
  })

  const table = markdownTable(
    ['N', 'origin copies (swarm)', 'origin copies (HTTP-only)', 'savings', 'last done s (swarm / HTTP-only)', 'peak RSS MB per node, median / max (swarm)', 'CPU s per node, median / max (swarm)', 'peak RSS MB / CPU s, median (HTTP-only)', 'failed nodes (swarm / HTTP-only)'],
    summary.map(s => [
      String(s.n), fmt(s.swarm.originCopies, 3), fmt(s.httpOnly.originCopies, 2), `${fmt(s.savings * 100, 1)} %`,
      `${fmt(s.swarm.lastCompletionS, 1)} / ${fmt(s.httpOnly.lastCompletionS, 1)}`,
      `${fmt(s.swarm.rssMedianMB)} / ${fmt(s.swarm.rssMaxMB)}`, `${fmt(s.swarm.cpuMedianS, 1)} / ${fmt(s.swarm.cpuMaxS, 1)}`,
      `${fmt(s.httpOnly.rssMedianMB)} / ${fmt(s.httpOnly.cpuMedianS, 1)}`, `${fmt(s.swarm.failures)} / ${fmt(s.httpOnly.failures)}`
    ])
  )
  const dist = markdownTable(
    ['N', 'pieces from HTTP per swarm node: min / median / max', 'nodes that used HTTP', 'pieces from HTTP, all nodes', 'pieces in file', 'origin requests'],
    summary.map(s => [String(s.n), `${fmt(s.httpPiecesPerNode.min)} / ${fmt(s.httpPiecesPerNode.median)} / ${fmt(s.httpPiecesPerNode.max)}`,
      `${s.httpPiecesPerNode.nodesUsingHttp} of ${s.n}`, fmt(s.httpPiecesPerNode.sum), fmt(Math.ceil(size / pieceSize)), fmt(s.swarmOriginRequests)])
  )
  process.stdout.write(`\n${table}\n\n${dist}\n\n${sizeLabel(size)} file, ${sizeLabel(pieceSize)} pieces${keepSeeding ? ', swarm nodes seeding until all are done' : ', each node exits when its own download is done'}; MB = 10^6 bytes.\n`)
  const file = await writeJson(jsonPath, {
    benchmark: 'flash-crowd', command: commandLine(), machine: facts, size, pieceSize, keepSeeding, httpDelay: httpDelay ?? null, summary, runs
  })
  process.stdout.write(`results: ${file}\n`)
  if (runs.some(r => r.failures > 0)) process.exitCode = 1
}

await main()
