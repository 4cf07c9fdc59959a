/** Small statistics and the two outputs of every benchmark: a Markdown table and a JSON file. */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'

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
