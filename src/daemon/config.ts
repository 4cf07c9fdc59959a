/**
 * The daemon's configuration: one JSON file, every key optional with a
 * documented default (docs/deploy/doswarm.json, README "Configuration").
 * Validation is eager and names the key and the problem; a bad file refuses
 * to start the daemon.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { parsePublicKeyString } from '../manifest/index.js'
import { defaultCacheDir } from '../node/paths.js'

export type DownloadMode = 'http-only' | 'lan' | 'group'

export interface DaemonConfig {
  /** jobs, statistics, peer identity, API token. @default $XDG_STATE_HOME/doswarm or ~/.local/state/doswarm */
  stateDir: string
  /** content cache. @default per-user cache directory */
  cacheDir: string
  /** @default ['/ip4/0.0.0.0/tcp/7680', '/ip6/::/tcp/7680'] */
  listen: string[]
  /** static peers (multiaddrs). @default [] */
  peers: string[]
  /** mDNS discovery on the LAN. @default true */
  mdns: boolean
  /** http-only: no peers; lan: peers on the LAN; group: only peers holding the group secret. @default 'lan' */
  mode: DownloadMode
  /** 64 hex characters; required in group mode (or groupSecretFile). @default null */
  groupSecret: string | null
  /** a file holding the group secret. @default null */
  groupSecretFile: string | null
  /** publisher keys trusted for every job. @default [] */
  trust: string[]
  api: {
    /** loopback address of the control API. @default '127.0.0.1' */
    host: string
    /** @default 7681 */
    port: number
    /** listen on this Unix socket instead of TCP. @default null */
    socket: string | null
  }
  cache: {
    /** bytes, "20GB", or a share of the disk such as "20%". @default '20%' */
    maxSize: string | number
    /** content unused for longer is evicted (unless pinned or in use). @default 3 */
    maxAgeDays: number
    /** files smaller than this are downloaded from HTTP only and not shared. @default 0 */
    minFileSizeToPeer: number
    /** content ids never evicted. @default [] */
    pinned: string[]
  }
  bandwidth: {
    /** bytes/s for foreground downloads, 0 = unlimited. @default 0 */
    foregroundDownload: number
    /** bytes/s for background downloads, 0 = unlimited; background also yields to foreground. @default 0 */
    backgroundDownload: number
    /** bytes/s uploaded to peers, 0 = unlimited. @default 0 */
    upload: number
    /** pieces uploaded at once. @default 8 */
    maxConcurrentUploads: number
  }
  httpDelay: {
    /** seconds a foreground download waits before fetching from HTTP what another node should fetch. @default 5 */
    foreground: number
    /** the same for background downloads. @default 30 */
    background: number
  }
}

/** Default state directory: `$DOSWARM_STATE`, `$XDG_STATE_HOME/doswarm` or `~/.local/state/doswarm`. */
export function defaultStateDir (env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOSWARM_STATE !== undefined && env.DOSWARM_STATE !== '') return env.DOSWARM_STATE
  const xdg = env.XDG_STATE_HOME
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'state'), 'doswarm')
}

/** Every default, in one place (a test checks them against the TSDoc above and the sample config). */
export function defaultConfig (env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  return {
    stateDir: defaultStateDir(env),
    cacheDir: defaultCacheDir(env),
    listen: ['/ip4/0.0.0.0/tcp/7680', '/ip6/::/tcp/7680'],
    peers: [],
    mdns: true,
    mode: 'lan',
    groupSecret: null,
    groupSecretFile: null,
    trust: [],
    api: { host: '127.0.0.1', port: 7681, socket: null },
    cache: { maxSize: '20%', maxAgeDays: 3, minFileSizeToPeer: 0, pinned: [] },
    bandwidth: { foregroundDownload: 0, backgroundDownload: 0, upload: 0, maxConcurrentUploads: 8 },
    httpDelay: { foreground: 5, background: 30 }
  }
}

type Check = (value: unknown, key: string) => unknown

const str: Check = (v, k) => { if (typeof v !== 'string' || v === '') throw new ConfigError(k, 'must be a non-empty string'); return v }
const nullableStr: Check = (v, k) => v === null ? null : str(v, k)
const bool: Check = (v, k) => { if (typeof v !== 'boolean') throw new ConfigError(k, 'must be true or false'); return v }
const nonNegative: Check = (v, k) => { if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(k, 'must be a number ≥ 0'); return v }
const positiveInt: Check = (v, k) => { if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(k, 'must be a whole number ≥ 1'); return v }
const port: Check = (v, k) => { if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new ConfigError(k, 'must be a port number 0..65535'); return v }
const strList: Check = (v, k) => {
  if (!Array.isArray(v)) throw new ConfigError(k, 'must be a list of strings')
  v.forEach((x, i) => str(x, `${k}[${i}]`))
  return v
}
const mode: Check = (v, k) => { if (v !== 'http-only' && v !== 'lan' && v !== 'group') throw new ConfigError(k, 'must be "http-only", "lan" or "group"'); return v }
const size: Check = (v, k) => {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v
  if (typeof v === 'string' && /^(\d+(\.\d+)?%|\d+(\.\d+)?\s*([KMGT]i?B|B)?)$/i.test(v.trim())) return v
  throw new ConfigError(k, 'must be bytes (a number), a size like "20GB", or a share of the disk like "20%"')
}
const loopback: Check = (v, k) => {
  const h = str(v, k) as string
  if (!/^127\.\d+\.\d+\.\d+$/.test(h) && h !== '::1' && h !== 'localhost') throw new ConfigError(k, 'must be a loopback address (the control API is for local callers only)')
  return h
}
const trustList: Check = (v, k) => {
  const list = strList(v, k) as string[]
  list.forEach((key, i) => {
    try { parsePublicKeyString(key) } catch (err) { throw new ConfigError(`${k}[${i}]`, (err as Error).message) }
  })
  return list
}

const SCHEMA: Record<string, Check | Record<string, Check>> = {
  stateDir: str,
  cacheDir: str,
  listen: strList,
  peers: strList,
  mdns: bool,
  mode,
  groupSecret: nullableStr,
  groupSecretFile: nullableStr,
  trust: trustList,
  api: { host: loopback, port, socket: nullableStr },
  cache: { maxSize: size, maxAgeDays: nonNegative, minFileSizeToPeer: nonNegative, pinned: strList },
  bandwidth: { foregroundDownload: nonNegative, backgroundDownload: nonNegative, upload: nonNegative, maxConcurrentUploads: positiveInt },
  httpDelay: { foreground: nonNegative, background: nonNegative }
}

/** Validate a parsed config object over the defaults; throws {@link ConfigError}. */
export function validateConfig (raw: unknown, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('(file)', 'must be a JSON object')
  const out = defaultConfig(env) as unknown as Record<string, unknown>
  for (const [key, value] of Object.entries(raw)) {
    const check = SCHEMA[key]
    if (check === undefined) throw new ConfigError(key, `unknown key (known: ${Object.keys(SCHEMA).join(', ')})`)
    if (typeof check === 'function') { out[key] = check(value, key); continue }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(key, 'must be an object')
    const section = out[key] as Record<string, unknown>
    for (const [sub, v] of Object.entries(value)) {
      const c = check[sub]
      if (c === undefined) throw new ConfigError(`${key}.${sub}`, `unknown key (known: ${Object.keys(check).join(', ')})`)
      section[sub] = c(v, `${key}.${sub}`)
    }
  }
  const cfg = out as unknown as DaemonConfig
  if (cfg.mode === 'group' && cfg.groupSecret === null && cfg.groupSecretFile === null) {
    throw new ConfigError('groupSecret', 'group mode needs groupSecret or groupSecretFile')
  }
  if (cfg.groupSecret !== null && !/^[0-9a-fA-F]{64}$/.test(cfg.groupSecret)) throw new ConfigError('groupSecret', 'must be 64 hex characters (32 bytes)')
  return cfg
}

/** Read and validate a config file. A missing file is an error only when `required`. */
export async function loadConfig (path: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<DaemonConfig> {
  if (path === undefined) return defaultConfig(env)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError('(file)', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let raw: unknown
  try { raw = JSON.parse(text) } catch (err) { throw new ConfigError('(file)', `${path} is not valid JSON: ${(err as Error).message}`) }
  return validateConfig(raw, env)
}
