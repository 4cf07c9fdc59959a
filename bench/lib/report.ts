/** Small statistics and the two outputs of every benchmark: a Markdown table and a JSON file. */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'
import { HTTP_CUT_REASONS, type HttpCutStats } from '../../src/origin/cut.js'

export function median (xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

export function max (xs: readonly number[]): number { return xs.length === 0 ? NaN : Math.max(...xs) }
export function min (xs: readonly number[]): number { return xs.length === 0 ? NaN : Math.min(...xs) }

/** Fixed decimals, or "–" for a missing value. */
export function fmt (x: number | undefined, decimals = 0): string {
  if (x === undefined || !Number.isFinite(x)) return '–'
  return x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

export function markdownTable (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`
  const align = headers.map((_, i) => (i === 0 ? '---' : '---:'))
  return [line(headers), line(align), ...rows.map(line)].join('\n')
}

/** Write `data` as pretty JSON, creating the directory. */
export async function writeJson (path: string, data: unknown): Promise<string> {
  const full = resolve(path)
  await mkdir(dirname(full), { recursive: true })
  await writeFile(full, JSON.stringify(data, null, 2) + '\n')
  return full
}

/** The command line that produced a result, for the report. */
export function commandLine (): string {
  const [script = '', ...args] = process.argv.slice(1)
  return ['node', relative(process.cwd(), script), ...args].map(a => /^[\w./:=,@+-]+$/.test(a) ? a : JSON.stringify(a)).join(' ')
}

/**
 * One line for HTTP requests cut short, summed over nodes (src/origin/cut.ts),
 * and the whole origin pieces a peer had delivered first.
 */
export function cutLine (c: HttpCutStats, duplicateBytes: number): string {
  const cuts = HTTP_CUT_REASONS.map(k => `${k} ${c[k].requests} / ${(c[k].bytesDiscarded / 1e6).toFixed(1)} / ${(c[k].bytesUnread / 1e6).toFixed(1)}`).join(', ')
  return `HTTP requests cut (Σ nodes; requests / MB thrown away / MB never read): ${cuts}; origin pieces a peer delivered first ${fmt(duplicateBytes / 1e6, 1)} MB`
}
