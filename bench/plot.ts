/**
 * SVG bar charts of the benchmark results (docs/benchmarks/*.json →
 * docs/benchmarks/*.svg), hand-written SVG so no charting library is needed;
 * also PNGs when `rsvg-convert` is on the PATH.
 *
 *   node .dist-bench/bench/plot.js [--dir docs/benchmarks]
 */
import { execFileSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { cliArgs, sizeLabel } from './lib/args.js'
import { repoRoot } from './lib/fixture.js'

interface Series { name: string, color: string, values: number[] }
interface Chart {
  title: string
  yLabel: string
  groups: string[]
  series: Series[]
  /** horizontal reference lines (targets) */
  lines?: Array<{ value: number, label: string }>
  decimals?: number
}

const W = 640
const H = 360
const M = { top: 48, right: 24, bottom: 64, left: 72 }

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A "nice" axis maximum and tick step above `v`. */
function niceScale (v: number): { top: number, step: number } {
  if (!(v > 0)) return { top: 1, step: 0.25 }
  const raw = v / 5
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 2.5, 5, 10].find(m => m * mag >= raw) ?? 10) * mag
  return { top: Math.ceil(v / step) * step, step }
}

export function barChart (c: Chart): string {
  const plotW = W - M.left - M.right
  const plotH = H - M.top - M.bottom
  const all = [...c.series.flatMap(s => s.values), ...(c.lines ?? []).map(l => l.value)].filter(Number.isFinite)
  const { top, step } = niceScale(Math.max(0, ...all) * 1.1)
  const y = (v: number): number => M.top + plotH - (v / top) * plotH
  const dec = c.decimals ?? 0
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`)
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e3e3"/>`)
    out.push(`<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${+v.toFixed(6)}</text>`)
  }
  out.push(`<text transform="translate(18 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(c.yLabel)}</text>`)
  const groupW = plotW / c.groups.length
  const barW = Math.min(56, (groupW * 0.75) / c.series.length)
  c.groups.forEach((g, gi) => {
    const x0 = M.left + gi * groupW + (groupW - barW * c.series.length) / 2
    c.series.forEach((s, si) => {
      const v = s.values[gi] ?? NaN
      if (!Number.isFinite(v)) return
      const x = x0 + si * barW
      out.push(`<rect x="${x + 2}" y="${y(v)}" width="${barW - 4}" height="${y(0) - y(v)}" fill="${s.color}"/>`)
      out.push(`<text x="${x + barW / 2}" y="${y(v) - 4}" text-anchor="middle" fill="#222">${v.toFixed(dec)}</text>`)
    })
    out.push(`<text x="${M.left + gi * groupW + groupW / 2}" y="${y(0) + 18}" text-anchor="middle" fill="#222">${esc(g)}</text>`)
  })
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`)
  for (const l of c.lines ?? []) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(l.value)}" y2="${y(l.value)}" stroke="#c00" stroke-dasharray="6 4"/>`)
    out.push(`<text x="${W - M.right - 4}" y="${y(l.value) - 5}" text-anchor="end" fill="#c00">${esc(l.label)}</text>`)
  }
  // legend
  let lx = M.left
  for (const s of c.series) {
    out.push(`<rect x="${lx}" y="${H - 22}" width="12" height="12" fill="${s.color}"/>`)
    out.push(`<text x="${lx + 16}" y="${H - 12}" fill="#222">${esc(s.name)}</text>`)
    lx += 24 + s.name.length * 7
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

const BLUE = '#4e79a7'
const ORANGE = '#f28e2b'
const GREY = '#9c9c9c'

async function load<T> (path: string): Promise<T | undefined> {
  try { return JSON.parse(await readFile(path, 'utf8')) as T } catch { return undefined }
}

async function main (): Promise<void> {
  const args = cliArgs('Usage: node .dist-bench/bench/plot.js [--dir DIR]\n\nRenders SVG bar charts from the benchmark JSON files in DIR.', {
    dir: { type: 'string', help: 'results directory (default: <repo>/docs/benchmarks)' }
  })
  const dir = resolve(args.optStr('dir') ?? join(repoRoot(), 'docs/benchmarks'))
  const written: string[] = []
  const emit = async (name: string, chart: Chart): Promise<void> => {
    const path = join(dir, name)
    await writeFile(path, barChart(chart))
    written.push(path)
    // a PNG beside it where librsvg's converter is installed (apt-get install librsvg2-bin)
    try {
      execFileSync('rsvg-convert', [path, '-o', path.replace(/\.svg$/, '.png')], { stdio: 'ignore' })
      written.push(path.replace(/\.svg$/, '.png'))
    } catch {}
  }

  const hvc = await load<{ summary: Array<{ size: number, curlMbps: number, doswarmMbps: number, doswarmPeakRssBytes: number, curlPeakRssBytes: number }> }>(join(dir, 'http-vs-curl.json'))
  if (hvc !== undefined) {
    const groups = hvc.summary.map(s => sizeLabel(s.size))
    await emit('http-vs-curl-throughput.svg', {
      title: 'HTTP download over loopback: doswarm --http-only vs curl', yLabel: 'MB/s (median, spawn → exit)', groups,
      series: [{ name: 'curl', color: GREY, values: hvc.summary.map(s => s.curlMbps) }, { name: 'doswarm', color: BLUE, values: hvc.summary.map(s => s.doswarmMbps) }]
    })
    await emit('http-vs-curl-rss.svg', {
      title: 'Peak RSS by file size', yLabel: 'peak RSS, MB', groups,
      series: [{ name: 'curl', color: GREY, values: hvc.summary.map(s => s.curlPeakRssBytes / 1e6) }, { name: 'doswarm', color: BLUE, values: hvc.summary.map(s => s.doswarmPeakRssBytes / 1e6) }],
      lines: [{ value: 150, label: 'target ≤ 150 MB' }]
    })
  }

  const fc = await load<{ size: number, summary: Array<{ n: number, swarm: Record<string, number>, httpOnly: Record<string, number> }> }>(join(dir, 'flash-crowd.json'))
  if (fc !== undefined) {
    const groups = fc.summary.map(s => `N = ${s.n}`)
    await emit('flash-crowd-origin.svg', {
      title: `Flash crowd (${sizeLabel(fc.size)}): copies sent by the origin`, yLabel: 'origin bytes ÷ file size', groups, decimals: 2,
      series: [{ name: 'doswarm swarm', color: BLUE, values: fc.summary.map(s => s.swarm.originCopies ?? NaN) }, { name: 'HTTP-only', color: ORANGE, values: fc.summary.map(s => s.httpOnly.originCopies ?? NaN) }],
      lines: [{ value: 1.05, label: 'target ≤ 1.05' }]
    })
    await emit('flash-crowd-time.svg', {
      title: `Flash crowd (${sizeLabel(fc.size)}): time until the last node is done`, yLabel: 'seconds', groups, decimals: 1,
      series: [{ name: 'doswarm swarm', color: BLUE, values: fc.summary.map(s => s.swarm.lastCompletionS ?? NaN) }, { name: 'HTTP-only', color: ORANGE, values: fc.summary.map(s => s.httpOnly.lastCompletionS ?? NaN) }]
    })
  }

  const pt = await load<{ size: number, summary: { rawMbps: number, doswarmMbps: number, rawWallMbps: number, doswarmWallMbps: number } }>(join(dir, 'peer-throughput.json'))
  if (pt !== undefined) {
    await emit('peer-throughput.svg', {
      title: `One peer to one peer, ${sizeLabel(pt.size)} over loopback`, yLabel: 'MB/s (median)', groups: ['transfer rate', 'spawn → exit'],
      series: [{ name: 'raw libp2p stream', color: GREY, values: [pt.summary.rawMbps, pt.summary.rawWallMbps] }, { name: 'doswarm seeder → leecher', color: BLUE, values: [pt.summary.doswarmMbps, pt.summary.doswarmWallMbps] }],
      lines: [{ value: 0.8 * pt.summary.rawMbps, label: 'target: 0.8 × raw' }]
    })
  }
  process.stdout.write(written.length > 0 ? `${written.join('\n')}\n` : `no results in ${dir}\n`)
}

await main()
