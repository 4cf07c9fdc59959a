import { readFile } from 'node:fs/promises'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { UsageError } from '../errors.js'
import { PUBLIC_KEY_PREFIX, parsePublicKeyString } from '../manifest/index.js'

/** parseArgs that turns every complaint into a one-line {@link UsageError}. */
export function parse<T extends ParseArgsConfig['options']> (argv: string[], options: T, positionals: number): { values: Record<string, unknown>, positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument ${parsed.positionals[positionals]}`)
  return { values: parsed.values as Record<string, unknown>, positionals: parsed.positionals }
}

export function required (values: Record<string, unknown>, name: string): string {
  const v = values[name]
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`)
  return v
}

/** `--trust` takes a key string or a file whose last non-empty line is one. */
export async function resolveTrust (items: string[]): Promise<string[]> {
  if (items.length === 0) throw new UsageError('--trust PUBKEY is required (the key printed by `doswarm keygen`)')
  const keys: string[] = []
  for (const item of items) {
    let text = item
    if (!item.startsWith(PUBLIC_KEY_PREFIX)) {
      try {
        text = (await readFile(item, 'utf8')).split('\n').map(l => l.trim()).filter(l => l !== '').pop() ?? ''
      } catch {
        throw new UsageError(`--trust ${item}: neither a public key (${PUBLIC_KEY_PREFIX}…) nor a readable file`)
      }
    }
    parsePublicKeyString(text)
    keys.push(text.trim())
  }
  return keys
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }

/** `30d`, `12h`, `90m`, `3600s`, `2w`, or an ISO date → absolute expiry (ms). */
export function parseExpiry (text: string, now = Date.now()): number {
  const m = /^(\d+)([smhdw])$/.exec(text)
  if (m !== null) return now + Number(m[1]) * UNITS[m[2]]
  const t = Date.parse(text)
  if (Number.isFinite(t) && /^\d{4}-\d{2}-\d{2}/.test(text)) return t
  throw new UsageError(`--expires ${text}: use a duration like 30d, 12h, 90m or an ISO date`)
}

/** A positive integer option. */
export function parseIntOption (text: string, name: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} ${text}: not a whole number`)
  return Number(text)
}
