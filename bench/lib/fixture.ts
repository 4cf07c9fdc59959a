/**
 * What every benchmark sets up: a scratch directory under `.bench-tmp/`
 * (removed at exit), a random file, a publisher key and signed manifest made
 * with the compiled CLI, a counting loopback origin, free loopback ports, and
 * the facts about the machine a result needs to be read.
 */
import { execFileSync } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream, existsSync, rmSync, rmdirSync } from 'node:fs'
import { mkdir, mkdtemp, open, rm, rmdir } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_FLAGS } from '../../src/cli/node-flags.js'
import { startOrigin, type Origin } from '../../test/helpers/origin-server.js'
import { atExit, run } from './proc.js'

export const MiB = 1024 * 1024
/** Throughput unit in every report: MB = 10^6 bytes. */
export const MB = 1e6

const here = dirname(fileURLToPath(import.meta.url))

/** The compiled CLI beside the compiled benchmarks (`<outDir>/src/cli/main.js`). */
export const CLI = resolve(here, '../../src/cli/main.js')

/** `node` arguments that run the CLI as its own first line does (`doswarm …` on a user's machine): its flags, then the script. */
export const CLI_ARGV: readonly string[] = [...NODE_FLAGS, CLI]

/** The repository: the nearest ancestor of the compiled script with package.json and src/. */
export function repoRoot (): string {
  let dir = here
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error(`no repository above ${here}`)
    dir = up
  }
}

/** A fresh directory under `<repo>/.bench-tmp/` (or `base`), deleted when the process exits. */
export async function scratchDir (name: string, base = join(repoRoot(), '.bench-tmp')): Promise<{ dir: string, remove: () => Promise<void> }> {
  await mkdir(base, { recursive: true })
  const dir = await mkdtemp(join(base, `${name}-`))
  const unregister = atExit(() => {
    rmSync(dir, { recursive: true, force: true })
    try { rmdirSync(base) } catch {} // only when empty: another benchmark may be using it
  })
  return {
    dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true })
      unregister()
      // leave no empty .bench-tmp behind either
      await rmdir(base).catch(() => {})
    }
  }
}

/** Write `size` bytes from the CSPRNG, 16 MiB at a time (never all in memory). */
export async function randomFile (path: string, size: number): Promise<void> {
  const block = Buffer.allocUnsafe(16 * MiB)
  const fh = await open(path, 'w')
  try {
    for (let off = 0; off < size; off += block.length) {
      const n = Math.min(block.length, size - off)
      randomFillSync(block, 0, n)
      await fh.write(block, 0, n, off)
    }
  } finally {
    await fh.close()
  }
}

export async function sha256File (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(chunk as Buffer)
  return h.digest('hex')
}

/** Run the compiled CLI to completion (short commands: keygen, publish). */
export async function cli (args: string[], timeoutMs = 300_000): Promise<string> {
  const r = await run(process.execPath, [...CLI_ARGV, ...args], { name: `doswarm ${args[0] ?? ''}`, timeoutMs })
  return r.stdout
}

export interface Content {
  file: string
  size: number
  sha256: string
  manifest: string
  /** publisher public key (`ed25519:…`) for --trust */
  publicKey: string
  origin: Origin
}

/**
 * A random file of `size` bytes served by a counting origin on 127.0.0.1,
 * a key and a signed manifest pointing at that origin.
 */
export async function makeContent (dir: string, size: number, pieceSize: number): Promise<Content> {
  const file = join(dir, 'content.bin')
  await randomFile(file, size)
  const sha256 = await sha256File(file)
  const origin = await startOrigin({ data: file })
  atExit(() => { void origin.close() })
  const keyOut = await cli(['keygen', '--out', join(dir, 'publisher.key')])
  const publicKey = keyOut.trim().split('\n').pop() ?? ''
  const manifest = join(dir, 'content.manifest')
  await cli(['publish', file, '--key', join(dir, 'publisher.key'), '--origin', origin.url, '--piece-size', String(pieceSize), '--out', manifest])
  return { file, size, sha256, manifest, publicKey, origin }
}

/** `n` distinct free TCP ports on 127.0.0.1 (held open together while chosen, then released). */
export async function freePorts (n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer()
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => { resolve() }) })
      servers.push(s)
    }
    return servers.map(s => (s.address() as { port: number }).port)
  } finally {
    await Promise.all(servers.map(async s => await new Promise<void>(resolve => { s.close(() => { resolve() }) })))
  }
}

export interface MachineFacts {
  date: string
  cpus: number
  cpuModel: string
  memGiB: number
  node: string
  kernel: string
  /** 1, 5, 15 minute load averages */
  loadavg: number[]
  /** HEAD, and whether src/ had uncommitted changes (others edit it concurrently) with a digest of that diff */
  git: { commit: string, srcDirty: boolean, srcDiffSha256?: string }
  curl?: string
}

export function machineFacts (): MachineFacts {
  const root = repoRoot()
  const sh = (cmd: string, args: string[]): string => {
    try { return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return '' }
  }
  const curl = sh('curl', ['--version']).split('\n')[0]
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 1024 ** 3),
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    loadavg: os.loadavg().map(l => Math.round(l * 100) / 100),
    git: gitFacts(sh),
    ...(curl !== undefined && curl !== '' ? { curl } : {})
  }
}

function gitFacts (sh: (cmd: string, args: string[]) => string): MachineFacts['git'] {
  const commit = sh('git', ['rev-parse', '--short', 'HEAD'])
  const diff = sh('git', ['diff', 'HEAD', '--', 'src'])
  const untracked = sh('git', ['ls-files', '--others', '--exclude-standard', '--', 'src'])
  if (diff === '' && untracked === '') return { commit, srcDirty: false }
  return { commit, srcDirty: true, srcDiffSha256: createHash('sha256').update(diff).update(untracked).digest('hex').slice(0, 16) }
}

/** Load average now, for a line in the report. */
export function loadNow (): number[] {
  return os.loadavg().map(l => Math.round(l * 100) / 100)
}

/** Warn when the machine is busy: figures taken on a loaded 2-core host mean less. */
export function warnIfLoaded (): void {
  const [one] = os.loadavg()
  if ((one ?? 0) > os.cpus().length * 0.5) {
    process.stderr.write(`warning: load average ${(one ?? 0).toFixed(2)} on ${os.cpus().length} cores; other work competes with this benchmark\n`)
  }
}
