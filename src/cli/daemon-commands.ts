import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { DaemonUnavailableError, DoswarmError } from '../errors.js'
import { findDaemon, type DaemonClient } from '../daemon/client.js'
import { loadConfig, defaultStateDir } from '../daemon/config.js'
import { Daemon, TOKEN_FILE } from '../daemon/daemon.js'
import type { JobInfo } from '../daemon/api-types.js'
import { parse } from './args.js'
import { ownsNode, type Io } from './commands.js'
import { ProgressBar, formatBytes } from './progress.js'

/** Poll interval while `get` follows a daemon job. */
const FOLLOW_MS = 250

/** `doswarm serve [--config FILE]`: run the daemon until SIGINT/SIGTERM. */
export async function serve (argv: string[], io: Io): Promise<void> {
  const { values } = parse(argv, { config: { type: 'string' } }, 0)
  const config = await loadConfig(typeof values.config === 'string' ? values.config : undefined)
  const daemon = await Daemon.start(config, { log: m => { io.stderr.write(`doswarm: ${m}\n`) } })
  const s = daemon.node.stats()
  io.stdout.write([
    `doswarm daemon running (pid ${process.pid}, mode ${config.mode})`,
    `  peer id:          ${s.peerId ?? '(none: http-only)'}`,
    `  listening on:     ${s.listen.join(' ') || '(none)'}`,
    `  control API:      ${daemon.url} (token in ${join(config.stateDir, TOKEN_FILE)})`,
    `  activity monitor: ${daemon.url.startsWith('http') ? `${daemon.url}/#token=<token>` : '(API on a Unix socket)'}  — \`doswarm status\` prints the full link`,
    `  cache:            ${config.cacheDir}`,
    ''
  ].join('\n'))
  await new Promise<void>(resolve => {
    if (io.signal.aborted) resolve()
    io.signal.addEventListener('abort', () => { resolve() }, { once: true })
  })
  io.stdout.write('doswarm daemon stopping; unfinished jobs resume at the next start\n')
  await daemon.stop()
}

/** `doswarm status [--json] [--state DIR]`: jobs, cache and totals of the running daemon. */
export async function status (argv: string[], io: Io): Promise<void> {
  const { values } = parse(argv, { json: { type: 'boolean' }, state: { type: 'string' } }, 0)
  const stateDir = typeof values.state === 'string' ? values.state : defaultStateDir()
  const client = await findDaemon(stateDir)
  if (client === undefined) throw new DaemonUnavailableError(`no doswarm daemon is running for ${stateDir} (start one with \`doswarm serve\`)`)
  const [stats, jobs] = await Promise.all([client.stats(), client.jobs()])
  if (values.json === true) {
    io.stdout.write(JSON.stringify({ ok: true, url: client.url, stats, jobs }) + '\n')
    return
  }
  const token = (await readFile(join(stateDir, TOKEN_FILE), 'utf8')).trim()
  const m = stats.month
  const t = stats.total
  const lines = [
    `daemon ${client.url}  peer ${stats.peerId ?? '-'}  mode ${stats.mode}  connections ${stats.connections}  up ${Math.round(stats.uptimeMs / 1000)} s`,
    `activity monitor: ${client.url.startsWith('http') ? `${client.url}/#token=${token}` : '(Unix socket)'}`,
    `this month (${m.id}): from peers ${formatBytes(m.bytesFromPeers)}, from HTTP ${formatBytes(m.bytesFromHttp)} (${m.percentPeerCaching}% from peers), uploaded ${formatBytes(m.bytesToPeers)}, ${m.downloads} downloads`,
    `all time: from peers ${formatBytes(t.bytesFromPeers)}, from HTTP ${formatBytes(t.bytesFromHttp)}, uploaded ${formatBytes(t.bytesToPeers)}, ${t.piecesRejected} pieces rejected, ${t.peersBanned} peers banned`,
    `cache: ${formatBytes(stats.cache.bytes)} in ${stats.cache.entries} entries (limit ${formatBytes(stats.cache.maxBytes)})`,
    jobs.length === 0 ? 'no jobs' : 'jobs:',
    ...jobs.map(j => `  ${j.id}  ${j.state.padEnd(11)} ${(j.size === 0 ? 100 : (100 * j.bytesDone / j.size)).toFixed(1).padStart(5)}%  ${j.priority.padEnd(10)} ${j.name}  → ${j.out}${j.error !== undefined ? `  [${j.error.code}] ${j.error.message}` : ''}`)
  ]
  io.stdout.write(lines.join('\n') + '\n')
}

/** The daemon `get` should use, or undefined to run standalone. */
export async function daemonForGet (values: Record<string, unknown>): Promise<DaemonClient | undefined> {
  // any option that shapes a node of its own means standalone
  if (ownsNode(values)) return undefined
  const stateDir = typeof values.state === 'string' ? values.state : defaultStateDir()
  return await findDaemon(stateDir)
}

/** Run `get` through the daemon: submit the job, follow it, print the same result line. */
export async function getViaDaemon (client: DaemonClient, opts: { manifest: Uint8Array, out: string, trust: string[], priority: 'foreground' | 'background', json: boolean }, io: Io): Promise<JobInfo> {
  io.stderr.write(`doswarm: using the doswarm daemon at ${client.url}\n`)
  let job = await client.createJob({ manifest: Buffer.from(opts.manifest).toString('base64'), out: resolve(opts.out), trust: opts.trust, priority: opts.priority })
  const bar = !opts.json && io.stderr.isTTY ? new ProgressBar(io.stderr) : undefined
  const onAbort = (): void => { void client.act(job.id, 'cancel').catch(() => {}) }
  io.signal.addEventListener('abort', onAbort, { once: true })
  try {
    while (job.state === 'queued' || job.state === 'downloading' || job.state === 'paused') {
      await new Promise(resolve => setTimeout(resolve, FOLLOW_MS))
      job = await client.job(job.id)
      bar?.update({ have: job.have, pieces: job.pieces, bytesDone: job.bytesDone, size: job.size, bytesFromHttp: job.bytesFromHttp, bytesFromPeers: job.bytesFromPeers, piecesRejected: job.piecesRejected, sources: job.peers, httpCut: job.httpCut, httpBytesDuplicate: job.httpBytesDuplicate })
    }
  } finally {
    io.signal.removeEventListener('abort', onAbort)
    bar?.done()
  }
  if (job.state !== 'complete') {
    const e = job.error ?? { code: 'ABORTED', message: `job ${job.state}` }
    throw new DoswarmError(e.code as DoswarmError['code'], e.message)
  }
  return job
}
