/**
 * Diagnostic (not one of the three benchmarks): how much of the download
 * path's time is spent waiting for durability. The same HTTP download is run
 * in-process with src's Downloader, HttpSource and PieceStore three ways,
 * alternating, against a loopback origin in its own process:
 *
 * - `as shipped`: defaults (a piece holds its request slot until a group
 *   commit — fdatasync + state file — made it durable);
 * - `no fsync`: the same, with fdatasync/fsync made no-ops through the
 *   store's injectable fs (what the waits cost);
 * - `64 puts in flight`: real fsyncs, but 64 MiB of pieces may wait for their commit instead of the default
 *   (whether a wider window hides the commit latency).
 *
 * Only Downloader.run() is timed (no process start, no finalize).
 *
 *   node .dist-bench/bench/diag-store-sync.js --size 1GiB --rounds 3
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { verifyManifest } from '../src/manifest/index.js'
import { HttpSource } from '../src/origin/index.js'
import { PieceStore, nodeStoreFs, type StoreFs } from '../src/store/index.js'
import { Downloader } from '../src/swarm/download.js'
import { startOrigin } from '../test/helpers/origin-server.js'
import { cliArgs, sizeLabel } from './lib/args.js'
import { CLI, MB, loadNow, machineFacts, randomFile, scratchDir } from './lib/fixture.js'
import { run, startChild } from './lib/proc.js'
import { fmt, markdownTable, median } from './lib/report.js'

const args = cliArgs('Usage: node .dist-bench/bench/diag-store-sync.js [options]\n\nTimes Downloader.run() for one HTTP download with real fsyncs, with no-op fsyncs, and with 64 puts in flight.', {
  size: { type: 'string', default: '1GiB', help: 'file size' },
  rounds: { type: 'string', default: '3', help: 'runs of each variant' },
  serve: { type: 'string', help: '(internal) serve this file on 127.0.0.1 and print the URL' },
  tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
})

const noSync: StoreFs = {
  ...nodeStoreFs,
  open: async (path, flags, mode) => {
    const h = await nodeStoreFs.open(path, flags, mode)
    return {
      read: h.read.bind(h),
      write: h.write.bind(h),
      truncate: h.truncate.bind(h),
      stat: h.stat.bind(h),
      close: h.close.bind(h),
      datasync: async () => {},
      sync: async () => {}
    }
  },
  fsyncDir: async () => {}
}

type Variant = 'as shipped' | 'no fsync' | '64 puts in flight'

async function main (): Promise<void> {
  const serveFile = args.optStr('serve')
  if (serveFile !== undefined) {
    const origin = await startOrigin({ data: serveFile })
    process.stdout.write(origin.url + '\n')
    return
  }
  const size = args.bytes('size')
  const rounds = args.num('rounds')
  const scratch = await scratchDir('diag-store-sync', args.optStr('tmp'))
  const results: Array<{ variant: Variant, mbps: number }> = []
  try {
    const file = join(scratch.dir, 'content.bin')
    await randomFile(file, size)
    const origin = startChild(process.execPath, [fileURLToPath(import.meta.url), '--serve', file], { name: 'origin', timeoutMs: 3_600_000 })
    const url = await origin.waitForLine(l => l.startsWith('http://'), 30_000)
    const key = (await run(process.execPath, [CLI, 'keygen', '--out', join(scratch.dir, 'k')], { name: 'keygen', timeoutMs: 60_000 })).stdout.trim().split('\n').pop() ?? ''
    await run(process.execPath, [CLI, 'publish', file, '--key', join(scratch.dir, 'k'), '--origin', url, '--out', join(scratch.dir, 'm')], { name: 'publish', timeoutMs: 300_000 })
    const manifest = verifyManifest(new Uint8Array(await readFile(join(scratch.dir, 'm'))), { trustedKeys: [key] })
    const variants: Variant[] = ['as shipped', 'no fsync', '64 puts in flight']
    for (let r = 0; r < rounds; r++) {
      for (const variant of r % 2 === 0 ? variants : [...variants].reverse()) {
        const cacheDir = join(scratch.dir, 'cache')
        const store = await PieceStore.open({ cacheDir, manifest, ...(variant === 'no fsync' ? { fs: noSync } : {}) })
        const source = new HttpSource({ url, manifest })
        const t0 = performance.now()
        await new Downloader({ store, sources: [source], ...(variant === '64 puts in flight' ? { maxPendingBytes: 64 * 1024 * 1024 } : {}) }).run()
        const mbps = size / MB / ((performance.now() - t0) / 1000)
        results.push({ variant, mbps })
        process.stderr.write(`  ${variant.padEnd(18)} ${fmt(mbps)} MB/s\n`)
        await source.close()
        await store.close()
        await rm(cacheDir, { recursive: true, force: true })
      }
    }
    origin.signal('SIGKILL')
  } finally {
    await scratch.remove()
  }
  const base = median(results.filter(r => r.variant === 'as shipped').map(r => r.mbps))
  process.stdout.write('\n' + markdownTable(['variant', `Downloader.run() MB/s, median of ${rounds}`, 'vs as shipped'],
    (['as shipped', 'no fsync', '64 puts in flight'] as const).map(v => {
      const m = median(results.filter(r => r.variant === v).map(r => r.mbps))
      return [v, fmt(m), fmt(m / base, 2)]
    })) + `\n\n${sizeLabel(size)}; load ${loadNow().join(' ')}; ${machineFacts().git.commit}\n`)
}

await main()
