/**
 * Figures of a LAN benchmark results file, drawn with Chart.js (a root
 * dependency) in headless Chromium (playwright-core, Debian's
 * /usr/bin/chromium or $DOSWARM_CHROMIUM) and saved as PNG beside the JSON:
 *
 * - `<base>-cdf.png`: share of nodes done vs time, one line per run, with the lower bound;
 * - `<base>-origin.png`: origin copies sent over time, one line per run;
 * - `<base>-bars.png`: origin copies and time ÷ lower bound per run, with the targets;
 * - `<base>-resources.png`: CPU seconds per GiB and peak RSS per run.
 *
 *   node dist/bench/lan/plot.js docs/benchmarks/lan-n20-256MiB.json
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'
import { label, runKey, sortRuns } from './table.js'
import type { RunResult } from './scenarios.js'

const CHROMIUM = process.env.DOSWARM_CHROMIUM ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const COLORS: Record<string, string> = {
  'doswarm/flash': '#1f77b4',
  'doswarm/staggered': '#17becf',
  'doswarm/late': '#9467bd',
  'doswarm/churn': '#8c564b',
  'doswarm/corrupt': '#e377c2',
  'http/flash': '#7f7f7f',
  'webtorrent/flash': '#ff7f0e',
  'doswarm/flash/daemon': '#2ca02c',
  'doswarm/staggered/daemon': '#bcbd22',
  'doswarm/late/daemon': '#d62728',
  'doswarm/churn/daemon': '#c49c94',
  'doswarm/corrupt/daemon': '#f7b6d2'
}

interface LanFile { n: number, size: number, links: { hostMbit: number, originMbit: number, delayMs: number }, lowerBoundFlashS: number, runs: RunResult[] }

const color = (r: RunResult): string => COLORS[runKey(r)] ?? '#000000'

/** Chart.js configurations (plain JSON: they cross into the page). */
function charts (data: LanFile): Record<string, unknown> {
  const runs = sortRuns(data.runs)
  const title = `${data.n} hosts (${data.links.hostMbit} Mbit/s), origin ${data.links.originMbit} Mbit/s, ${data.size / 2 ** 20} MiB`
  const lb = data.lowerBoundFlashS
  const cdf = {
    type: 'line',
    data: {
      datasets: [
        ...runs.map(r => {
          const done = r.cdfS.filter(Number.isFinite)
          return {
            label: label(r), borderColor: color(r), backgroundColor: color(r), stepped: true, pointRadius: 2, borderWidth: 2,
            data: [{ x: 0, y: 0 }, ...done.map((t, i) => ({ x: t, y: (i + 1) / r.n }))]
          }
        }),
        { label: `lower bound (flash) ${lb.toFixed(1)} s`, borderColor: '#000000', borderDash: [6, 4], pointRadius: 0, borderWidth: 1, data: [{ x: lb, y: 0 }, { x: lb, y: 1 }] }
      ]
    },
    options: {
      animation: false,
      plugins: { title: { display: true, text: `Completion CDF — ${title}` } },
      scales: { x: { type: 'linear', title: { display: true, text: 's since the first start' }, min: 0 }, y: { min: 0, max: 1, title: { display: true, text: 'share of nodes done' } } }
    }
  }
  const origin = {
    type: 'line',
    data: {
      datasets: runs.map(r => ({
        label: label(r), borderColor: color(r), backgroundColor: color(r), pointRadius: 0, borderWidth: 2,
        // what the relay put on the origin's link where known (older files: what the server wrote)
        data: r.originTimeline.map(([t, b, relayed]) => ({ x: t, y: (relayed ?? b) / r.size }))
      }))
    },
    options: {
      animation: false,
      plugins: { title: { display: true, text: `Origin copies sent over time (onto the origin's link) — ${title}` } },
      scales: { x: { type: 'linear', title: { display: true, text: 's since the first start' }, min: 0 }, y: { type: 'logarithmic', min: 0.01, title: { display: true, text: 'origin copies (log)' } } }
    }
  }
  const labels = runs.map(label)
  const bars = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'origin copies (bytes the origin sent)', data: runs.map(r => r.originCopies), backgroundColor: '#1f77b4', yAxisID: 'y' },
        { label: 'origin copies on its link (tc, with headers)', data: runs.map(r => r.originWireCopies ?? null), backgroundColor: '#aec7e8', yAxisID: 'y' },
        { label: 'kept by the nodes (Σ bytes from HTTP)', data: runs.map(r => r.originKeptCopies ?? null), backgroundColor: '#9edae5', yAxisID: 'y' },
        { label: 'time to last completion ÷ lower bound', data: runs.map(r => r.ratioToLowerBound), backgroundColor: '#ff7f0e', yAxisID: 'y' },
        { type: 'line', label: 'target: 1.05 copies', data: runs.map(() => 1.05), borderColor: '#1f77b4', borderDash: [6, 4], pointRadius: 0, borderWidth: 1 },
        { type: 'line', label: 'target: 1.25 × lower bound', data: runs.map(() => 1.25), borderColor: '#ff7f0e', borderDash: [2, 3], pointRadius: 0, borderWidth: 1 }
      ]
    },
    options: {
      animation: false,
      plugins: { title: { display: true, text: `Origin copies and time ÷ lower bound (log scale) — ${title}` } },
      scales: { y: { type: 'logarithmic', min: 0.5 } }
    }
  }
  const resources = {
    type: 'bar',
    data: {
      labels,
      datasets: [
        { label: 'CPU s per GiB delivered (all nodes)', data: runs.map(r => r.cpuSecondsPerGiB), backgroundColor: '#2ca02c', yAxisID: 'cpu' },
        { label: 'peak RSS per node, max (MB)', data: runs.map(r => r.peakRssMaxMB), backgroundColor: '#d62728', yAxisID: 'rss' }
      ]
    },
    options: {
      animation: false,
      plugins: { title: { display: true, text: `CPU and memory — ${title}` } },
      scales: {
        cpu: { type: 'linear', position: 'left', min: 0, title: { display: true, text: 'CPU s / GiB' } },
        rss: { type: 'linear', position: 'right', min: 0, title: { display: true, text: 'MB' }, grid: { drawOnChartArea: false } }
      }
    }
  }
  return { cdf, origin, bars, resources }
}

async function main (): Promise<void> {
  const file = resolve(process.argv[2] ?? '')
  if (process.argv[2] === undefined || !existsSync(file)) {
    process.stderr.write('usage: node dist/bench/lan/plot.js docs/benchmarks/lan-<…>.json\n')
    process.exit(2)
  }
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`bench/lan/plot: ${CHROMIUM} is missing: apt-get install chromium, or set DOSWARM_CHROMIUM\n`)
    process.exit(3)
  }
  const data = JSON.parse(await readFile(file, 'utf8')) as LanFile
  const base = file.replace(/\.json$/, '')
  // the UMD build is not in chart.js's "exports": find the package folder from its main entry
  const chartMain = createRequire(import.meta.url).resolve('chart.js')
  const chartJs = join(chartMain.slice(0, chartMain.lastIndexOf('/dist/')), 'dist/chart.umd.js')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 })
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 520 }, deviceScaleFactor: 1 })
    await page.setContent('<!doctype html><html><body style="margin:0;background:#fff"><div style="width:880px;height:500px;padding:10px"><canvas id="c"></canvas></div></body></html>')
    await page.addScriptTag({ path: chartJs })
    for (const [name, config] of Object.entries(charts(data))) {
      await page.evaluate((cfg) => {
        // runs in the page: no DOM types in this project's tsconfig, hence the casts
        const g = globalThis as unknown as { Chart: new (el: unknown, c: unknown) => { destroy: () => void }, current?: { destroy: () => void }, document: { getElementById: (id: string) => unknown } }
        g.current?.destroy()
        const canvas = g.document.getElementById('c')
        const c = cfg as { options: Record<string, unknown> }
        c.options.responsive = true
        c.options.maintainAspectRatio = false
        // white background for the PNG
        interface Ctx { save: () => void, restore: () => void, fillStyle: string, fillRect: (x: number, y: number, w: number, h: number) => void }
        const bg = { id: 'bg', beforeDraw: (chart: { ctx: Ctx, width: number, height: number }) => { chart.ctx.save(); chart.ctx.fillStyle = '#ffffff'; chart.ctx.fillRect(0, 0, chart.width, chart.height); chart.ctx.restore() } }
        g.current = new g.Chart(canvas, { ...c, plugins: [bg] })
      }, config)
      const out = `${base}-${name}.png`
      await page.locator('div').screenshot({ path: out })
      process.stdout.write(`${out}\n`)
    }
  } finally {
    await browser.close()
  }
}

await main()
