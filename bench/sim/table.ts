/**
 * Print the markdown table of a simulated series from its JSON files.
 *
 *   node dist/bench/sim/table.js [--dir docs/benchmarks] [--tag 64MiB]
 */
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cliArgs } from '../lib/args.js'
import { repoRoot } from '../lib/fixture.js'
import type { RunResult } from './world.js'

const args = cliArgs('node dist/bench/sim/table.js [options]', {
  dir: { type: 'string', default: 'docs/benchmarks', help: 'folder with sim-<tag>-n*.json' },
  tag: { type: 'string', default: '64MiB', help: 'which series' }
})
const dir = resolve(repoRoot(), args.str('dir'))
const re = new RegExp(`^sim-${args.str('tag')}-n(\\d+)\\.json$`)
const rows: RunResult[] = []
for (const f of await readdir(dir)) if (re.test(f)) rows.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as RunResult)
rows.sort((a, b) => a.n - b.n)
const s = (ms: number): string => (ms / 1000).toFixed(1)
console.log('| N | done | origin copies sent (kept) | last completion, s | ÷ lower bound | median, s | request timeouts | view (downloaders known, mean) | sim wall time, s | events |')
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const r of rows) {
  console.log(`| ${r.n.toLocaleString('en')} | ${r.completed} | ${r.originCopies.toFixed(2)} (${r.originCopiesUsed.toFixed(2)}) | ${s(r.lastCompletionMs)} | ${r.ratioToBound.toFixed(2)} (bound ${s(r.lowerBoundMs)}) | ${s(r.medianCompletionMs)} | ${r.counters.timeouts} | ${r.view.mean.toFixed(0)} | ${s(r.wallMs)} | ${r.events.toLocaleString('en')} |`)
}
