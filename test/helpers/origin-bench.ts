/**
 * Throughput of {@link HttpSource} against curl, side by side, same origin,
 * same file, same machine: a 1 GiB download over loopback as 4 parallel lanes
 * of ~16 MiB Range requests. curl runs twice: as 4 processes (each walking its
 * lane's ranges on one reused connection) and as one process with 4 parallel
 * transfers (`-Z`, single-threaded like us). HttpSource: 4 concurrent fetch()
 * loops on one source with 4 connections. The origin runs in its own process so no
 * contender shares an event loop with it.
 *
 *   npx tsc -p tsconfig.json --outDir .dist-origin
 *   node .dist-origin/test/helpers/origin-bench.js --bench [--memory] [--size-mib 1024] [--piece-kib 1024] [--rounds 3]
 *
 * `--memory` makes the origin serve from RAM, so the origin process costs less
 * CPU and the contenders' own efficiency shows more.
 *
 * Does nothing unless `--bench` (or the internal `--serve`) is given, so the
 * test runner can load this file harmlessly.
 */
import { spawn } from 'node:child_process'
import { open, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomFillSync } from 'node:crypto'
import { planRanges } from '../../src/origin/index.js'
import { HttpSource } from '../../src/origin/index.js'
import { testManifest } from './origin-fixtures.js'
import { startOrigin } from './origin-server.js'

const MiB = 1024 * 1024

function arg (name: string, dflt: number): number {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}

/** A file of `size` bytes (a random 16 MiB block repeated), created once. */
async function ensureFile (size: number): Promise<string> {
  const path = join(tmpdir(), `doswarm-origin-bench-${size}.bin`)
  const st = await stat(path).catch(() => undefined)
  if (st?.size === size) return path
  const block = randomFillSync(Buffer.allocUnsafe(16 * MiB))
  const fh = await open(path, 'w')
  try {
    for (let off = 0; off < size; off += block.length) await fh.write(block, 0, Math.min(block.length, size - off), off)
  } finally { await fh.close() }
  return path
}

/** Child mode: serve `file` on loopback and print the URL. */
async function serve (file: string): Promise<void> {
  // --memory: load the file and serve from RAM (no read syscalls or thread-pool copies on the server side)
  const data = process.argv.includes('--memory') ? await readFile(file) : file
  const origin = await startOrigin({ data })
  process.stdout.write(origin.url + '\n')
  process.stdin.resume()
  process.stdin.on('end', () => { void origin.close().then(() => process.exit(0)) })
}

interface Lanes { ranges: Array<{ start: number, end: number }>, lanes: number }

/** curl's arguments for fetching `ranges` one after another (one connection, reused). */
function curlArgs (url: string, ranges: Lanes['ranges']): string[] {
  const args: string[] = []
  ranges.forEach((r, i) => {
    if (i > 0) args.push('--next')
    args.push('-s', '--fail', '-r', `${r.start}-${r.end}`, '-o', '/dev/null', url)
  })
  return args
}

async function spawnCurl (args: string[], quiet = false): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    // curl -Z draws a progress meter on stderr even with -s; --fail's exit code still reports errors.
    const p = spawn('curl', args, { stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'] })
    p.on('exit', code => code === 0 ? resolve() : reject(new Error(`curl exit ${code}`)))
  })
}

/** `lanes` curl processes, each walking its share of the ranges sequentially. */
async function runCurlProcesses (url: string, { ranges, lanes }: Lanes): Promise<number> {
  const t0 = performance.now()
  await Promise.all(Array.from({ length: lanes }, async (_, lane) =>
    await spawnCurl(curlArgs(url, ranges.filter((_, i) => i % lanes === lane)))))
  return performance.now() - t0
}

/** One curl process with `lanes` transfers in parallel (-Z): single-threaded, like us. */
async function runCurlParallel (url: string, { ranges, lanes }: Lanes): Promise<number> {
  const t0 = performance.now()
  await spawnCurl(['-Z', '--parallel-max', String(lanes), ...curlArgs(url, ranges)], true)
  return performance.now() - t0
}

async function runSource (url: string, size: number, pieceSize: number, piecesPerRange: number, lanes: number): Promise<number> {
  const m = testManifest(size, pieceSize)
  const runs = planRanges(Array.from({ length: m.pieceHashes.length }, (_, i) => i), piecesPerRange)
  const source = new HttpSource({ url, manifest: m, connections: lanes })
  const t0 = performance.now()
  let bytes = 0
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (const r of runs.filter((_, i) => i % lanes === lane)) {
      for await (const p of source.fetch(r.first, r.count, AbortSignal.timeout(120_000))) bytes += p.bytes.length
    }
  }))
  const ms = performance.now() - t0
  await source.close()
  if (bytes !== size) throw new Error(`got ${bytes} of ${size} bytes`)
  return ms
}

async function bench (): Promise<void> {
  const size = arg('--size-mib', 1024) * MiB
  const pieceSize = arg('--piece-kib', 1024) * 1024
  const rounds = arg('--rounds', 3)
  const lanes = 4
  const rangeBytes = 16 * MiB
  const file = await ensureFile(size)

  const serveArgs = [fileURLToPath(import.meta.url), '--serve', file, ...(process.argv.includes('--memory') ? ['--memory'] : [])]
  const child = spawn(process.execPath, serveArgs, { stdio: ['pipe', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())))
  try {
    const piecesPerRange = Math.max(1, Math.round(rangeBytes / pieceSize))
    const ranges = planRanges(Array.from({ length: Math.ceil(size / rangeBytes) }, (_, i) => i), 1)
      .map(r => ({ start: r.first * rangeBytes, end: Math.min(size, (r.first + 1) * rangeBytes) - 1 }))
    const times: Record<string, number[]> = { 'curl ×4 processes': [], 'curl -Z (1 process)': [], HttpSource: [] }
    for (let i = 0; i < rounds; i++) {
      // Interleaved, so load from elsewhere on the machine hits all contenders alike.
      times['curl ×4 processes']!.push(await runCurlProcesses(url, { ranges, lanes }))
      times['curl -Z (1 process)']!.push(await runCurlParallel(url, { ranges, lanes }))
      times.HttpSource!.push(await runSource(url, size, pieceSize, piecesPerRange, lanes))
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
    const rate = (ms: number): string => `${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s`
    console.log(`${size / MiB} MiB over loopback, ${lanes} lanes × ${rangeBytes / MiB} MiB ranges, piece ${pieceSize / 1024} KiB, ` +
      `origin serving from ${process.argv.includes('--memory') ? 'memory' : 'file'}, median of ${rounds}`)
    for (const [name, xs] of Object.entries(times)) {
      console.log(`  ${name.padEnd(20)} ${median(xs).toFixed(0).padStart(6)} ms  ${rate(median(xs)).padStart(11)}   runs: ${xs.map(x => x.toFixed(0)).join(', ')}`)
    }
    const ours = median(times.HttpSource!)
    for (const name of ['curl ×4 processes', 'curl -Z (1 process)']) {
      console.log(`  HttpSource / ${name} throughput: ${(median(times[name]!) / ours).toFixed(2)}`)
    }
  } finally {
    child.stdin.end()
  }
}

if (process.argv.includes('--serve')) {
  await serve(process.argv[process.argv.indexOf('--serve') + 1] as string)
} else if (process.argv.includes('--bench')) {
  await bench()
}
