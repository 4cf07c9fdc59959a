/**
 * Command-line options for the benchmark scripts: `node:util` parseArgs plus
 * a generated `--help`, typed getters and byte-size parsing ("256MiB", "1GiB").
 */
import { parseArgs } from 'node:util'

export interface OptionSpec {
  type: 'string' | 'boolean'
  /** shown in --help; for strings also the value used when the option is absent */
  default?: string
  help: string
}

export class Args {
  readonly #values: Record<string, string | boolean | undefined>
  readonly #spec: Record<string, OptionSpec>

  constructor (values: Record<string, string | boolean | undefined>, spec: Record<string, OptionSpec>) {
    this.#values = values
    this.#spec = spec
  }

  str (name: string): string {
    const v = this.#values[name] ?? this.#spec[name]?.default
    if (typeof v !== 'string') throw new Error(`--${name} is required`)
    return v
  }

  optStr (name: string): string | undefined {
    const v = this.#values[name] ?? this.#spec[name]?.default
    return typeof v === 'string' ? v : undefined
  }

  flag (name: string): boolean { return this.#values[name] === true }

  num (name: string): number {
    const text = this.str(name)
    const n = Number(text)
    if (!Number.isFinite(n)) throw new Error(`--${name} ${text}: not a number`)
    return n
  }

  bytes (name: string): number { return parseBytes(this.str(name), name) }

  /** Comma-separated list. */
  list (name: string): string[] { return this.str(name).split(',').map(s => s.trim()).filter(s => s !== '') }
}

/**
 * Parse the process arguments; prints help and exits 0 on `--help`, prints
 * the problem and exits 2 on a bad option.
 */
export function cliArgs (usage: string, spec: Record<string, OptionSpec>, argv = process.argv.slice(2)): Args {
  const full: Record<string, OptionSpec> = { ...spec, help: { type: 'boolean', help: 'show this help' } }
  const help = (): string => {
    const lines = Object.entries(full).map(([name, o]) => {
      const left = `  --${name}${o.type === 'string' ? ' VALUE' : ''}`
      const dflt = o.default !== undefined ? ` (default: ${o.default})` : ''
      return `${left.padEnd(28)} ${o.help}${dflt}`
    })
    return `${usage.trim()}\n\nOptions:\n${lines.join('\n')}\n`
  }
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(full).map(([k, o]) => [k, { type: o.type }])),
      strict: true,
      allowPositionals: false
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message.split('\n')[0]}\n\n${help()}`)
    process.exit(2)
  }
  if (parsed.values.help === true) {
    process.stdout.write(help())
    process.exit(0)
  }
  return new Args(parsed.values as Record<string, string | boolean | undefined>, full)
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3
}

/** "1GiB", "256MiB", "1048576", "64KiB" → bytes. */
export function parseBytes (text: string, what = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()]
  if (m === null || unit === undefined) throw new Error(`--${what} ${text}: expected a size like 256MiB, 1GiB or a byte count`)
  return Math.round(Number(m[1]) * unit)
}

/** Bytes → "256 MiB" / "1 GiB" for labels. */
export function sizeLabel (bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % (1024 ** 3) === 0) return `${bytes / 1024 ** 3} GiB`
  if (bytes >= 1024 ** 2 && bytes % (1024 ** 2) === 0) return `${bytes / 1024 ** 2} MiB`
  return `${bytes} B`
}
