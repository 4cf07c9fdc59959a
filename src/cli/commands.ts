import { readFile, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'
import { UsageError, toStoreError } from '../errors.js'
import { createManifest, generateKey, privateKeyFromPem, checkOriginUrl, checkPieceSize } from '../manifest/index.js'
import { createNode, type NodeInit } from '../node/node.js'
import { checkOutputPath } from '../node/output.js'
import { nodeStoreFs, writeFileAtomic } from '../store/index.js'
import { parse, parseExpiry, parseIntOption, required, resolveTrust } from './args.js'
import { ProgressBar, formatBytes } from './progress.js'
import type { HttpCutStats } from '../origin/cut.js'

export interface Io {
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  signal: AbortSignal
}

export async function keygen (argv: string[], io: Io): Promise<void> {
  const { values } = parse(argv, { out: { type: 'string' }, force: { type: 'boolean' } }, 0)
  const out = resolve(required(values, 'out'))
  const key = generateKey()
  try {
    await writeFile(out, key.privateKeyPem, { mode: 0o600, flag: values.force === true ? 'w' : 'wx' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new UsageError(`${out} exists; refusing to overwrite a key (use --force)`)
    throw new UsageError(`cannot write ${out}: ${code ?? (err as Error).message}`)
  }
  io.stdout.write(`private key written to ${out} (mode 0600, keep it secret)\npublic key (give to receivers as --trust):\n${key.publicKey}\n`)
}

export async function publish (argv: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(argv, {
    key: { type: 'string' },
    origin: { type: 'string', multiple: true },
    'piece-size': { type: 'string' },
    expires: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    out: { type: 'string' }
  }, 1)
  const file = positionals[0]
  if (file === undefined) throw new UsageError('publish needs a FILE to describe')
  const st = await stat(file).catch(() => undefined)
  if (st?.isFile() !== true) throw new UsageError(`${file}: no such file`)
  const keyPath = required(values, 'key')
  const pem = await readFile(keyPath, 'utf8').catch(() => { throw new UsageError(`cannot read key file ${keyPath}`) })
  const privateKey = privateKeyFromPem(pem)
  const origins = (values.origin as string[] | undefined) ?? []
  if (origins.length === 0) throw new UsageError('--origin URL is required (repeat it for several origins)')
  for (const o of origins) {
    const why = checkOriginUrl(o)
    if (why !== undefined) throw new UsageError(`--origin ${o}: ${why}`)
  }
  let pieceSize: number | undefined
  if (typeof values['piece-size'] === 'string') {
    pieceSize = parseIntOption(values['piece-size'], 'piece-size')
    const why = checkPieceSize(pieceSize)
    if (why !== undefined) throw new UsageError(`--piece-size ${pieceSize}: ${why}`)
  }
  const out = resolve(required(values, 'out'))
  const manifest = await createManifest({
    file,
    origins,
    privateKey,
    ...(pieceSize !== undefined ? { pieceSize } : {}),
    ...(typeof values.expires === 'string' ? { expiresAt: parseExpiry(values.expires) } : {}),
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    ...(typeof values.version === 'string' ? { version: parseIntOption(values.version, 'version') } : {}),
    signal: io.signal
  })
  await writeFileAtomic(nodeStoreFs, dirname(out), basename(out), manifest.bytes).catch(err => { throw toStoreError(err, `writing ${out}`) })
  io.stdout.write(`manifest written to ${out} (${manifest.size} bytes, ${manifest.pieceHashes.length} pieces)\n${manifest.contentId}\n`)
}

/** Options that shape a node of the caller's own: `get` with any of them runs standalone, never through the daemon. */
export const STANDALONE_OPTIONS = ['cache', 'listen', 'peer', 'no-mdns', 'http-delay', 'http-only', 'seed', 'standalone'] as const

/** True when `get` was given an option that makes it run its own node ({@link STANDALONE_OPTIONS}). */
export function ownsNode (values: Record<string, unknown>): boolean {
  return STANDALONE_OPTIONS.some(k => values[k] !== undefined)
}

/** Options shared by every command that runs a node. */
const NODE_OPTIONS = {
  cache: { type: 'string' },
  listen: { type: 'string', multiple: true },
  peer: { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  'http-delay': { type: 'string' },
  'http-only': { type: 'boolean' }
} as const

async function nodeInit (values: Record<string, unknown>): Promise<NodeInit> {
  const init: NodeInit = {}
  if (typeof values.cache === 'string') init.cacheDir = values.cache
  const listen = values.listen as string[] | undefined
  if (listen !== undefined) init.listen = listen
  const peers = values.peer as string[] | undefined
  if (peers !== undefined) {
    const { parseStaticPeer } = await import('../node/libp2p.js')
    for (const p of peers) parseStaticPeer(p)
    init.peers = peers
  }
  if (values['no-mdns'] === true) init.mdns = false
  if (values['http-only'] === true) init.httpOnly = true
  if (typeof values['http-delay'] === 'string') {
    const secs = Number(values['http-delay'])
    if (!Number.isFinite(secs) || secs < 0) throw new UsageError(`--http-delay ${values['http-delay']}: seconds ≥ 0 expected`)
    init.httpDelayMs = secs * 1000
  }
  return init
}

interface ResultLine {
  contentId: string
  size: number
  out: string
  bytesFromHttp: number
  bytesFromPeers: number
  bytesToPeers: number
  piecesRejected: number
  peersBanned: number
  piecesReused: number
  httpCut: HttpCutStats
  httpBytesDuplicate: number
  peerId: string | null
  via?: string
}

/** The one result line of `get`: JSON with --json, a sentence otherwise. */
function printResult (io: Io, json: boolean, started: number, r: ResultLine): void {
  const durationMs = Math.round(performance.now() - started)
  if (json) {
    io.stdout.write(JSON.stringify({
      ok: true,
      contentId: r.contentId,
      size: r.size,
      out: r.out,
      bytesFromHttp: r.bytesFromHttp,
      bytesFromPeers: r.bytesFromPeers,
      bytesToPeers: r.bytesToPeers,
      piecesRejected: r.piecesRejected,
      peersBanned: r.peersBanned,
      piecesReused: r.piecesReused,
      httpCut: r.httpCut,
      httpBytesDuplicate: r.httpBytesDuplicate,
      durationMs,
      peerId: r.peerId,
      ...(r.via !== undefined ? { daemon: r.via } : {})
    }) + '\n')
    return
  }
  io.stdout.write(`verified ${r.out}: ${formatBytes(r.size)} in ${(durationMs / 1000).toFixed(1)} s (http ${formatBytes(r.bytesFromHttp)}, peers ${formatBytes(r.bytesFromPeers)}, reused ${r.piecesReused} pieces, ${r.piecesRejected} rejected, ${r.peersBanned} peers banned)\n`)
}

/** Resolve when the process is told to stop. */
function untilStopped (signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    if (signal.aborted) { resolve(); return }
    signal.addEventListener('abort', () => { resolve() }, { once: true })
  })
}

export async function get (argv: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...NODE_OPTIONS,
    out: { type: 'string' },
    trust: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    seed: { type: 'boolean' },
    background: { type: 'boolean' },
    standalone: { type: 'boolean' },
    state: { type: 'string' }
  }, 1)
  const json = values.json === true
  const started = performance.now()
  const manifestPath = positionals[0]
  if (manifestPath === undefined) throw new UsageError('get needs a MANIFEST file')
  const out = required(values, 'out')
  const trustedKeys = await resolveTrust((values.trust as string[] | undefined) ?? [])
  const bytes = await readFile(manifestPath).catch(() => { throw new UsageError(`cannot read manifest ${manifestPath}`) })
  await checkOutputPath(out)
  // the daemon client is loaded only when it may be used: a standalone get
  // (--http-only and the like) keeps its start-up memory small (docs/benchmarks.md)
  const daemonCommands = ownsNode(values) ? undefined : await import('./daemon-commands.js')
  const daemon = await daemonCommands?.daemonForGet(values)
  if (daemonCommands !== undefined && daemon !== undefined) {
    const { getViaDaemon } = daemonCommands
    const job = await getViaDaemon(daemon, { manifest: new Uint8Array(bytes), out, trust: trustedKeys, priority: values.background === true ? 'background' : 'foreground', json }, io)
    printResult(io, json, started, { ...job, piecesReused: 0, peerId: null, via: daemon.url })
    return
  }
  const node = createNode(await nodeInit(values))
  const bar = !json && io.stderr.isTTY ? new ProgressBar(io.stderr) : undefined
  try {
    let result
    try {
      result = await node.download(new Uint8Array(bytes), {
        trustedKeys,
        out,
        priority: values.background === true ? 'background' : 'foreground',
        signal: io.signal,
        ...(bar !== undefined ? { onProgress: p => { bar.update(p) } } : {})
      })
    } finally {
      bar?.done()
    }
    printResult(io, json, started, { ...result, peerId: node.peerId ?? null })
    if (values.seed === true && node.peerId !== undefined) {
      if (!json) io.stderr.write(`seeding as ${node.peerId} on ${node.multiaddrs.join(' ')}; Ctrl-C to stop\n`)
      await untilStopped(io.signal)
    }
  } finally {
    await node.stop()
  }
}

export async function seed (argv: string[], io: Io): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...NODE_OPTIONS,
    trust: { type: 'string', multiple: true },
    json: { type: 'boolean' }
  }, 2)
  const [manifestPath, file] = positionals
  if (manifestPath === undefined || file === undefined) throw new UsageError('seed needs MANIFEST and FILE')
  if (values['http-only'] === true) throw new UsageError('seed serves peers; --http-only makes no sense here')
  const trustedKeys = await resolveTrust((values.trust as string[] | undefined) ?? [])
  const bytes = await readFile(manifestPath).catch(() => { throw new UsageError(`cannot read manifest ${manifestPath}`) })
  const node = createNode(await nodeInit(values))
  try {
    const manifest = await node.seed(new Uint8Array(bytes), file, { trustedKeys, signal: io.signal })
    if (values.json === true) {
      io.stdout.write(JSON.stringify({ ok: true, seeding: true, contentId: manifest.contentId, size: manifest.size, peerId: node.peerId, listen: node.multiaddrs }) + '\n')
    } else {
      io.stdout.write(`seeding ${manifest.contentId} (${formatBytes(manifest.size)}) as ${node.peerId ?? ''} on ${node.multiaddrs.join(' ')}; Ctrl-C to stop\n`)
    }
    await untilStopped(io.signal)
    if (values.json === true) {
      const st = node.swarm?.stats()
      io.stdout.write(JSON.stringify({ ok: true, stopped: true, bytesToPeers: st?.bytesToPeers ?? 0, peersBanned: st?.peersBanned ?? 0 }) + '\n')
    }
  } finally {
    await node.stop()
  }
}
