/**
 * The simulation plot: origin copies and time to last completion (÷ lower
 * bound) against N, drawn by Chart.js (a root dependency) in headless
 * Chromium (playwright-core + Debian's /usr/bin/chromium, as the monitor
 * tests use) and saved as PNG.
 *
 *   node dist/bench/sim/plot.js [--dir docs/benchmarks] [--tag 64MiB]
 */
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { cliArgs } from '../lib/args.js'
import { repoRoot } from '../lib/fixture.js'

const CHROMIUM = process.env.DOSWARM_CHROMIUM ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

interface Point { n: number, originCopies: number, originCopiesUsed: number, ratioToBound: number, lastCompletionMs: number, medianCompletionMs: number, lowerBoundMs: number }

/** Render docs/benchmarks/sim-<tag>.png from sim-<tag>-n*.json in `dir`; returns the PNG path. */
export async function plotSeries (dir: string, tag: string): Promise<string> {
  const re = new RegExp(`^sim-${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-n(\\d+)\\.json$`)
  const points: Point[] = []
  for (const f of await readdir(dir)) {
    if (!re.test(f)) continue
    points.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as Point)
  }
  points.sort((a, b) => a.n - b.n)
  if (points.length === 0) throw new Error(`no sim-${tag}-n*.json in ${dir}`)
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium or set DOSWARM_CHROMIUM`)
  const chartJs = await readFile(join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js'), 'utf8')
  const data = {
    labels: points.map(p => String(p.n)),
    copies: points.map(p => +p.originCopies.toFixed(3)),
    kept: points.map(p => +p.originCopiesUsed.toFixed(3)),
    ratio: points.map(p => +p.ratioToBound.toFixed(3)),
    lastS: points.map(p => +(p.lastCompletionMs / 1000).toFixed(2)),
    medianS: points.map(p => +(p.medianCompletionMs / 1000).toFixed(2)),
    boundS: points.map(p => +(p.lowerBoundMs / 1000).toFixed(2)),
    title: `doswarm simulation, ${tag} file, flash crowd (real OriginCoordinator + PiecePicker)`
  }
  const png = join(dir, `sim-${tag}.png`)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 })
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 460 }, deviceScaleFactor: 1 })
    await page.setContent('<html><body style="margin:0;background:#fff"><div style="display:flex"><div style="width:500px;height:440px"><canvas id="a"></canvas></div><div style="width:500px;height:440px"><canvas id="b"></canvas></div></div></body></html>')
    await page.addScriptTag({ content: chartJs })
    await page.evaluate((d) => {
      const C = (globalThis as any).Chart
      const common = (title: string, y: string): object => ({
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { title: { display: true, text: title } },
        scales: { x: { title: { display: true, text: 'nodes (N, log scale)' } }, y: { beginAtZero: true, title: { display: true, text: y } } }
      })
      // eslint-disable-next-line no-new
      new C((globalThis as any).document.getElementById('a'), {
        type: 'line',
        data: { labels: d.labels, datasets: [
          { label: 'origin copies sent (bytes ÷ file size)', data: d.copies, borderColor: '#d62728', backgroundColor: '#d62728' },
          { label: 'copies kept (pieces the nodes stored)', data: d.kept, borderColor: '#ff7f0e', backgroundColor: '#ff7f0e', borderDash: [6, 4] }
        ] },
        options: common('Origin copies', 'copies')
      })
      // eslint-disable-next-line no-new
      new C((globalThis as any).document.getElementById('b'), {
        type: 'line',
        data: {
          labels: d.labels,
          datasets: [
            { label: 'last completion (s)', data: d.lastS, borderColor: '#1f77b4', backgroundColor: '#1f77b4' },
            { label: 'median completion (s)', data: d.medianS, borderColor: '#2ca02c', backgroundColor: '#2ca02c' },
            { label: 'lower bound (s)', data: d.boundS, borderColor: '#7f7f7f', backgroundColor: '#7f7f7f', borderDash: [6, 4] }
          ]
        },
        options: common('Completion time', 'seconds')
      })
      const t = (globalThis as any).document.createElement('div')
      t.textContent = d.title
      t.style.cssText = 'font:12px sans-serif;text-align:center;color:#444'
      ;(globalThis as any).document.body.appendChild(t)
    }, data)
    await page.screenshot({ path: png, fullPage: true })
  } finally {
    await browser.close()
  }
  return png
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = cliArgs('node dist/bench/sim/plot.js [options]', {
    dir: { type: 'string', default: 'docs/benchmarks', help: 'folder with sim-<tag>-n*.json' },
    tag: { type: 'string', default: '64MiB', help: 'which series' }
  })
  console.log(await plotSeries(resolve(repoRoot(), args.str('dir')), args.str('tag')))
}
