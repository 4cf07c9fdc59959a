/**
 * doswarm's HTTP-only download against curl, side by side: the same random
 * file on the same counting loopback origin, the two commands alternating in
 * one run (fresh cache and output every time), each timed from spawn to exit
 * — for doswarm that includes verifying every piece, the final whole-file
 * hash and the atomic rename, which curl does not do. A third command,
 * curl followed by `sync --data` of its output, shows what making the file
 * durable costs on this disk (doswarm fdatasyncs every piece before it
 * counts). Peak RSS shows whether doswarm's memory depends on the file size.
 *
 *   node .dist-bench/bench/http-vs-curl.js --sizes 256MiB,1GiB --rounds 3
 */
import { stat, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cliArgs, parseBytes, sizeLabel } from './lib/args.js'
import { CLI_ARGV, MB, loadNow, machineFacts, makeContent, repoRoot, scratchDir, sha256File, warnIfLoaded } from './lib/fixture.js'
import { startChild, type ChildResult } from './lib/proc.js'
import { commandLine, fmt, markdownTable, max, median, writeJson } from './lib/report.js'

const args = cliArgs(`
Usage: node .dist-bench/bench/http-vs-curl.js [options]

Downloads a random file from a counting HTTP origin on 127.0.0.1, alternating
\`curl -s -o FILE URL\` and \`doswarm get MANIFEST --http-only --json\` (fresh
cache each time). Prints a Markdown table (median throughput, ratio
doswarm/curl, peak RSS) and writes every run to a JSON file.`, {
  sizes: { type: 'string', default: '256MiB,1GiB', help: 'file sizes, comma-separated' },
  rounds: { type: 'string', default: '3', help: 'runs of each command per size' },
  'piece-size': { type: 'string', default: '1MiB', help: 'manifest piece size' },
  'timeout-s': { type: 'string', default: '900', help: 'deadline for one download' },
  'cpu-prof': { type: 'string', help: 'directory: run doswarm with node --cpu-prof, profiles kept there' },
  json: { type: 'string', help: 'results file (default: <repo>/docs/benchmarks/http-vs-curl.json)' },
  tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
})

interface RunRecord {
  size: number
  round: number
  tool: 'curl' | 'curl+fsync' | 'doswarm'
  ok: boolean
  wallMs: number
  /** size / wall time, MB/s */
  mbps: number
  maxRssBytes?: number
  cpuSeconds?: number
  /** of which system (kernel) time */
  cpuSysSeconds?: number
  originBytes: number
  /** doswarm's own --json figures */
  durationMs?: number
  bytesFromHttp?: number
  error?: string
}

const sizes = args.list('sizes').map(s => parseBytes(s, 'sizes'))
const rounds = args.num('rounds')
const pieceSize = args.bytes('piece-size')
const timeoutMs = args.num('timeout-s') * 1000
const cpuProf = args.optStr('cpu-prof')
const profFlags = cpuProf !== undefined ? ['--cpu-prof', '--cpu-prof-dir', resolve(cpuProf)] : []
const jsonPath = resolve(args.optStr('json') ?? join(repoRoot(), 'docs/benchmarks/http-vs-curl.json'))

type Tool = 'curl' | 'curl+fsync' | 'doswarm'

async function once (tool: Tool, size: number, round: number, dir: string, content: Awaited<ReturnType<typeof makeContent>>): Promise<RunRecord> {
  const out = join(dir, `out-${tool}-${round}.bin`)
  const cache = join(dir, `cache-${round}`)
  const before = content.origin.bytesSent
  const [cmd, argv] = tool === 'curl'
    ? ['curl', ['-s', '-o', out, content.origin.url]]
    : tool === 'curl+fsync'
      // curl, then make the file durable as doswarm does before it reports success
      ? ['sh', ['-c', 'curl -s -o "$1" "$2" && sync --data "$1"', 'sh', out, content.origin.url]]
      : [process.execPath, [...profFlags, ...CLI_ARGV, 'get', content.manifest, '--http-only', '--json', '--cache', cache, '--out', out, '--trust', content.publicKey]]
  const r: ChildResult = await startChild(cmd, argv, { name: `${tool} #${round}`, timeoutMs, measure: true, measureDir: dir }).exited
  const rec: RunRecord = {
    size, round, tool, ok: false, wallMs: r.wallMs, mbps: size / MB / (r.wallMs / 1000),
    originBytes: content.origin.bytesSent - before,
    ...(r.maxRssBytes !== undefined ? { maxRssBytes: r.maxRssBytes } : {}),
    ...(r.cpuSeconds !== undefined ? { cpuSeconds: r.cpuSeconds } : {}),
    ...(r.cpuSysSeconds !== undefined ? { cpuSysSeconds: r.cpuSysSeconds } : {})
  }
  try {
    if (r.code !== 0) throw new Error(`exit ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim().slice(-500)}`)
    if (tool === 'doswarm') {
      const line = r.stdout.trim().split('\n').pop() ?? ''
      const j = JSON.parse(line) as { ok: boolean, durationMs: number, bytesFromHttp: number }
      rec.durationMs = j.durationMs
      rec.bytesFromHttp = j.bytesFromHttp
    }
    const st = await stat(out)
    if (st.size !== size) throw new Error(`output is ${st.size} bytes, expected ${size}`)
    if (await sha256File(out) !== content.sha256) throw new Error('output sha256 differs from the source file')
    rec.ok = true
  } catch (err) {
    rec.error = (err as Error).message
    process.stderr.write(`${tool} round ${round}: ${rec.error}\n`)
  } finally {
    await rm(out, { force: true })
    await rm(cache, { recursive: true, force: true })
  }
  return rec
}

async function main (): Promise<void> {
  warnIfLoaded()
  const facts = machineFacts()
  const runs: RunRecord[] = []
  const loads: Array<{ size: number, before: number[], after: number[] }> = []
  for (const size of sizes) {
    const scratch = await scratchDir('http-vs-curl', args.optStr('tmp'))
    try {
      process.stderr.write(`${sizeLabel(size)}: writing random file and manifest…\n`)
      const content = await makeContent(scratch.dir, size, pieceSize)
      const before = loadNow()
      for (let round = 1; round <= rounds; round++) {
        // alternate which command goes first, so neither always meets a warmer page cache
        const order: Tool[] = round % 2 === 1 ? ['curl', 'curl+fsync', 'doswarm'] : ['doswarm', 'curl+fsync', 'curl']
        for (const tool of order) {
          const rec = await once(tool, size, round, scratch.dir, content)
          runs.push(rec)
          process.stderr.write(`  ${sizeLabel(size)} round ${round} ${tool.padEnd(10)} ${fmt(rec.mbps)} MB/s, ${fmt((rec.maxRssBytes ?? NaN) / MB)} MB peak RSS${rec.ok ? '' : ' FAILED'}\n`)
        }
      }
      loads.push({ size, before, after: loadNow() })
      await content.origin.close()
    } finally {
      await scratch.remove()
    }
  }

  const summary = sizes.map(size => {
    const of = (tool: string): RunRecord[] => runs.filter(r => r.size === size && r.tool === tool && r.ok)
    const curl = of('curl')
    const ds = of('doswarm')
    const curlMbps = median(curl.map(r => r.mbps))
    const curlSyncMbps = median(of('curl+fsync').map(r => r.mbps))
    const dsMbps = median(ds.map(r => r.mbps))
    return {
      size,
      curlMbps,
      doswarmMbps: dsMbps,
      ratio: dsMbps / curlMbps,
      /** curl followed by an fdatasync of its output: the same durability doswarm gives */
      curlSyncMbps,
      ratioVsCurlSync: dsMbps / curlSyncMbps,
      /** doswarm's own durationMs (process start to verified file, minus Node start-up) */
      doswarmInProcessMbps: median(ds.map(r => size / MB / ((r.durationMs ?? NaN) / 1000))),
      doswarmPeakRssBytes: max(ds.map(r => r.maxRssBytes ?? NaN)),
      curlPeakRssBytes: max(curl.map(r => r.maxRssBytes ?? NaN)),
      doswarmCpuSeconds: median(ds.map(r => r.cpuSeconds ?? NaN)),
      curlCpuSeconds: median(curl.map(r => r.cpuSeconds ?? NaN)),
      doswarmOriginCopies: median(ds.map(r => r.originBytes / size)),
      failures: runs.filter(r => r.size === size && !r.ok).length
    }
  })

  const table = markdownTable(
    ['file', 'curl MB/s', 'curl + fsync MB/s', 'doswarm MB/s', 'doswarm/curl', 'doswarm/(curl + fsync)', 'doswarm in-process MB/s', 'doswarm peak RSS MB', 'curl peak RSS MB', 'CPU s doswarm / curl', 'origin copies (doswarm)', 'failed runs'],
    summary.map(s => [
      sizeLabel(s.size), fmt(s.curlMbps), fmt(s.curlSyncMbps), fmt(s.doswarmMbps), fmt(s.ratio, 2), fmt(s.ratioVsCurlSync, 2), fmt(s.doswarmInProcessMbps),
      fmt(s.doswarmPeakRssBytes / MB), fmt(s.curlPeakRssBytes / MB), `${fmt(s.doswarmCpuSeconds, 2)} / ${fmt(s.curlCpuSeconds, 2)}`,
      fmt(s.doswarmOriginCopies, 3), String(s.failures)
    ])
  )
  process.stdout.write(`\n${table}\n\nMedian of ${rounds} runs each; MB = 10^6 bytes; throughput = file size / (spawn → exit).\n`)
  const file = await writeJson(jsonPath, { benchmark: 'http-vs-curl', command: commandLine(), machine: facts, loads, pieceSize, rounds, summary, runs })
  process.stdout.write(`results: ${file}\n`)
  if (runs.some(r => !r.ok)) process.exitCode = 1
}

await main()
