/**
 * The raw libp2p baseline (what @libp2p/perf would measure, which this
 * registry does not have): two processes built with doswarm's own
 * createP2PNode (TCP + Noise + yamux, the same limits), one stream, the
 * sender pushing `--bytes` in `--chunk` sends and waiting for 'drain'
 * whenever send() returns false, the receiver only counting bytes. Nothing is
 * framed, hashed or stored: it is the ceiling a doswarm peer transfer can
 * approach on this machine. With `--hash-piece BYTES` the receiver also
 * SHA-256s every BYTES-long piece of the stream as it arrives (incrementally,
 * on its own thread, no copy): the least work a receiver that verifies each
 * piece must add, so the ceiling of any verified transfer. `--store` (the
 * receiver's `--durable FILE`) adds the rest of what a doswarm receiver must
 * do before it may announce a piece and hand over the file: write every byte
 * to a file (in place, as it arrives, with writeSync), make it durable (one
 * fdatasync per 16 MiB, at most one in flight, a last one at the end) and
 * SHA-256 the whole stream — still with no framing, no copies and no second
 * pass over the file.
 *
 *   node .dist-bench/bench/raw-libp2p.js --bytes 1GiB --rounds 3     # the pair, side by side
 *   node .dist-bench/bench/raw-libp2p.js --role receive ...           # one side (used by the pair)
 */
import '../src/polyfill.js'
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { closeSync, fdatasync, openSync, writeSync } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createP2PNode } from '../src/node/libp2p.js'
import { cliArgs, sizeLabel, type Args } from './lib/args.js'
import { MB, loadNow, machineFacts, repoRoot, scratchDir } from './lib/fixture.js'
import { startChild, type Child, type ChildResult } from './lib/proc.js'
import { commandLine, fmt, markdownTable, median, writeJson } from './lib/report.js'

export const RAW_PROTOCOL = '/doswarm-bench/raw/1.0.0'
const SELF = fileURLToPath(import.meta.url)

/**
 * SHA-256 of every `pieceBytes`-long piece of a byte stream fed in arbitrary
 * chunks: the digests of the pieces completed so far (the last piece may be
 * short and is finished by {@link PieceHasher.end}).
 */
export class PieceHasher {
  readonly digests: Buffer[] = []
  #hash: Hash = createHash('sha256')
  #filled = 0

  constructor (readonly pieceBytes: number) {
    if (!Number.isInteger(pieceBytes) || pieceBytes < 1) throw new RangeError('pieceBytes must be a positive integer')
  }

  update (chunk: Uint8Array): void {
    let at = 0
    while (at < chunk.byteLength) {
      const take = Math.min(this.pieceBytes - this.#filled, chunk.byteLength - at)
      this.#hash.update(take === chunk.byteLength ? chunk : chunk.subarray(at, at + take))
      at += take
      this.#filled += take
      if (this.#filled === this.pieceBytes) this.#next()
    }
  }

  /** Finish a short last piece, if any; returns every digest. */
  end (): Buffer[] {
    if (this.#filled > 0) this.#next()
    return this.digests
  }

  #next (): void {
    this.digests.push(this.#hash.digest())
    this.#hash = createHash('sha256')
    this.#filled = 0
  }
}

const fdatasyncAsync = promisify(fdatasync)

/** Bytes written between two fdatasyncs of --durable. */
const DURABLE_SYNC_BYTES = 16 * 1024 * 1024

/**
 * --durable: write a stream to a file as it arrives, fdatasync every
 * DURABLE_SYNC_BYTES (one sync in flight at a time; the next one due covers
 * what a skipped one would have), SHA-256 the whole stream; `end()` waits for
 * a last fdatasync and returns the hash.
 */
class DurableSink {
  readonly #fd: number
  readonly #hash = createHash('sha256')
  #position = 0
  #unsynced = 0
  #syncing: Promise<void> | undefined
  syncs = 0

  constructor (path: string) { this.#fd = openSync(path, 'w') }

  write (chunk: Uint8Array): void {
    for (let done = 0; done < chunk.byteLength;) done += writeSync(this.#fd, chunk, done, chunk.byteLength - done, this.#position + done)
    this.#position += chunk.byteLength
    this.#hash.update(chunk)
    this.#unsynced += chunk.byteLength
    if (this.#unsynced >= DURABLE_SYNC_BYTES && this.#syncing === undefined) {
      this.#unsynced = 0
      this.#syncing = this.#sync().finally(() => { this.#syncing = undefined })
    }
  }

  async end (): Promise<string> {
    await this.#syncing
    await this.#sync()
    closeSync(this.#fd)
    return this.#hash.digest('hex')
  }

  async #sync (): Promise<void> {
    this.syncs++
    await fdatasyncAsync(this.#fd)
  }
}

/** Receiver side: count (with --hash-piece, hash; with --durable, store) the bytes of the first stream, print them, exit. */
async function receive (a: Args): Promise<void> {
  const hashPiece = a.bytes('hash-piece')
  const durable = a.optStr('durable')
  const node = await createP2PNode({ stateDir: a.str('state'), listen: [a.str('listen')], mdns: false })
  const done = Promise.withResolvers<{ bytes: number, ms: number, firstByteMs: number, pieces: number, sha256?: string, syncs?: number }>()
  await node.handle(RAW_PROTOCOL, (stream: Stream) => {
    void (async () => {
      const t0 = performance.now()
      let first = 0
      let bytes = 0
      const hasher = hashPiece > 0 ? new PieceHasher(hashPiece) : undefined
      try {
        const sink = durable !== undefined ? new DurableSink(durable) : undefined
        for await (const chunk of stream) {
          if (bytes === 0) first = performance.now()
          bytes += chunk.byteLength
          // the plain baseline does nothing more per chunk than count it
          if (hasher === undefined && sink === undefined) continue
          for (const part of chunk instanceof Uint8Array ? [chunk] : chunk) {
            hasher?.update(part)
            sink?.write(part)
          }
        }
        const sha256 = await sink?.end()
        done.resolve({ bytes, ms: performance.now() - t0, firstByteMs: first - t0, pieces: hasher?.end().length ?? 0, ...(sink !== undefined && { sha256, syncs: sink.syncs }) })
        // closing our side tells the sender everything arrived (see send())
        await stream.close().catch(() => {})
      } catch (err) {
        done.reject(err)
      }
    })()
  }, { maxInboundStreams: 1 })
  const addr = node.getMultiaddrs()[0]?.toString()
  process.stdout.write(JSON.stringify({ ready: true, addr }) + '\n')
  try {
    const r = await done.promise
    process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n')
  } finally {
    await node.stop()
  }
}

/** Sender side: one stream, `bytes` in `chunk`-sized sends with drain backpressure. */
async function send (a: Args): Promise<void> {
  const total = a.bytes('bytes')
  const chunkSize = a.bytes('chunk')
  const node = await createP2PNode({ stateDir: a.str('state'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  try {
    const stream = await node.dialProtocol(multiaddr(a.str('to')), RAW_PROTOCOL)
    const buf = randomBytes(chunkSize)
    const t0 = performance.now()
    for (let sent = 0; sent < total;) {
      const n = Math.min(chunkSize, total - sent)
      sent += n
      if (!stream.send(n === chunkSize ? buf : buf.subarray(0, n))) await drained(stream)
    }
    // the receiver closes its side once it has counted everything; stopping
    // the node before that could cut off bytes still queued in the muxer
    const closed = new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }, { once: true }) })
    await stream.close()
    await closed
    process.stdout.write(JSON.stringify({ ok: true, sent: total, ms: performance.now() - t0 }) + '\n')
  } finally {
    await node.stop()
  }
}

/** Wait for 'drain' (not onDrain(): in libp2p 3.x it resolves at once after a first drain). */
function drained (stream: Stream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const off = (): void => { stream.removeEventListener('drain', onDrain); stream.removeEventListener('close', onClose) }
    const onDrain = (): void => { off(); resolve() }
    const onClose = (): void => { off(); reject(new Error('stream closed while waiting for drain')) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
  })
}

export interface RawResult {
  ok: boolean
  bytes: number
  /** pieces the receiver hashed (0 without hashPiece) */
  pieces: number
  /** with durable: the SHA-256 of what the receiver wrote, and its fdatasync count */
  sha256?: string
  syncs?: number
  /** receiver: stream opened → last byte */
  ms: number
  mbps: number
  /** sender spawn → receiver's result, whole processes included */
  wallMs: number
  receiver?: ChildResult
  sender?: ChildResult
  error?: string
}

/** One raw transfer between two fresh processes; `dir` holds their identities. */
export async function rawPair (opts: { bytes: number, chunk: number, dir: string, timeoutMs: number, nodeFlags?: string[], hashPiece?: number, durable?: boolean }): Promise<RawResult> {
  const node = (role: string, extra: string[]): Child => startChild(process.execPath, [...(opts.nodeFlags ?? []), SELF, '--role', role, '--state', join(opts.dir, role), ...extra], {
    name: `raw ${role}`, timeoutMs: opts.timeoutMs, measure: true, measureDir: opts.dir
  })
  const durableFile = join(opts.dir, 'raw-durable.bin')
  const receiver = node('receive', ['--listen', '/ip4/127.0.0.1/tcp/0', '--hash-piece', String(opts.hashPiece ?? 0), ...(opts.durable === true ? ['--durable', durableFile] : [])])
  let sender: Child | undefined
  try {
    const ready = JSON.parse(await receiver.waitForLine(l => l.includes('"ready"'), 60_000)) as { addr: string }
    const t0 = performance.now()
    sender = node('send', ['--to', ready.addr, '--bytes', String(opts.bytes), '--chunk', String(opts.chunk)])
    const result = JSON.parse(await receiver.waitForLine(l => l.includes('"bytes"'), opts.timeoutMs)) as { bytes: number, ms: number, pieces: number, sha256?: string, syncs?: number }
    const wallMs = performance.now() - t0
    const [r, s] = await Promise.all([receiver.exited, sender.exited])
    const wantPieces = (opts.hashPiece ?? 0) > 0 ? Math.ceil(opts.bytes / (opts.hashPiece ?? 1)) : 0
    const ok = result.bytes === opts.bytes && result.pieces === wantPieces && r.code === 0 && s.code === 0 &&
      (opts.durable !== true || ((await stat(durableFile)).size === opts.bytes && result.sha256 !== undefined))
    return {
      ok, bytes: result.bytes, pieces: result.pieces, ...(result.sha256 !== undefined && { sha256: result.sha256, syncs: result.syncs }), ms: result.ms, mbps: result.bytes / MB / (result.ms / 1000), wallMs, receiver: r, sender: s,
      ...(ok ? {} : { error: `received ${result.bytes} of ${opts.bytes} bytes, hashed ${result.pieces} of ${wantPieces} pieces; exit codes ${String(r.code)}/${String(s.code)}: ${r.stderr.slice(-300)} ${s.stderr.slice(-300)}` })
    }
  } catch (err) {
    return { ok: false, bytes: 0, pieces: 0, ms: NaN, mbps: NaN, wallMs: NaN, error: (err as Error).message }
  } finally {
    receiver.signal('SIGKILL')
    sender?.signal('SIGKILL')
    await rm(durableFile, { force: true })
  }
}

const USAGE = `
Usage: node .dist-bench/bench/raw-libp2p.js [options]

The raw libp2p throughput baseline: two processes using doswarm's
createP2PNode (TCP + Noise + yamux), one stream, the sender streaming
--bytes in --chunk sends with drain backpressure, the receiver counting.
--hash-piece BYTES makes the receiver SHA-256 each piece as it arrives;
--store makes it also write the stream to a file, fdatasync it and SHA-256
the whole of it.
Without --role, runs --rounds sender/receiver pairs and reports the median.`

async function main (): Promise<void> {
  const a = cliArgs(USAGE, {
    role: { type: 'string', help: 'receive | send (internal: one side of the pair)' },
    bytes: { type: 'string', default: '1GiB', help: 'bytes to send' },
    chunk: { type: 'string', default: '1MiB', help: 'size of one send()' },
    'hash-piece': { type: 'string', default: '0', help: 'receiver SHA-256s every piece of this many bytes (0: only counts)' },
    durable: { type: 'string', help: 'receiver file (with --role receive): write the stream there, fdatasync it, SHA-256 it' },
    store: { type: 'boolean', help: 'run the pair with a --durable receiver (and --hash-piece if given)' },
    rounds: { type: 'string', default: '3', help: 'pairs to run' },
    state: { type: 'string', help: 'identity directory (with --role)' },
    listen: { type: 'string', default: '/ip4/127.0.0.1/tcp/0', help: 'receiver listen address (with --role receive)' },
    to: { type: 'string', help: 'receiver address (with --role send)' },
    'timeout-s': { type: 'string', default: '600', help: 'deadline for one transfer' },
    json: { type: 'string', help: 'results file (default: <repo>/docs/benchmarks/raw-libp2p.json)' },
    tmp: { type: 'string', help: 'scratch directory base (default: <repo>/.bench-tmp)' }
  })
  const role = a.optStr('role')
  if (role === 'receive') { await receive(a); return }
  if (role === 'send') { await send(a); return }
  if (role !== undefined) throw new Error(`--role ${role}: receive or send`)

  const bytes = a.bytes('bytes')
  const chunk = a.bytes('chunk')
  const rounds = a.num('rounds')
  const facts = machineFacts()
  const scratch = await scratchDir('raw-libp2p', a.optStr('tmp'))
  const runs: RawResult[] = []
  try {
    for (let i = 1; i <= rounds; i++) {
      const r = await rawPair({ bytes, chunk, dir: scratch.dir, timeoutMs: a.num('timeout-s') * 1000, hashPiece: a.bytes('hash-piece'), durable: a.flag('store') })
      runs.push(r)
      process.stderr.write(`  round ${i}: ${fmt(r.mbps)} MB/s${r.ok ? '' : ` FAILED: ${r.error ?? ''}`}\n`)
    }
  } finally {
    await scratch.remove()
  }
  const ok = runs.filter(r => r.ok)
  const table = markdownTable(['transfer', 'median MB/s', 'runs', 'receiver CPU s', 'receiver peak RSS MB'], [[
    `${sizeLabel(bytes)} in ${sizeLabel(chunk)} sends`, fmt(median(ok.map(r => r.mbps))), `${ok.length}/${runs.length}`,
    fmt(median(ok.map(r => r.receiver?.cpuSeconds ?? NaN)), 2), fmt(median(ok.map(r => (r.receiver?.maxRssBytes ?? NaN) / MB)))
  ]])
  process.stdout.write(`\n${table}\n`)
  const file = await writeJson(resolve(a.optStr('json') ?? join(repoRoot(), 'docs/benchmarks/raw-libp2p.json')), {
    benchmark: 'raw-libp2p', command: commandLine(), machine: facts, loadAfter: loadNow(), bytes, chunk,
    runs: runs.map(r => ({ ...r, receiver: slim(r.receiver), sender: slim(r.sender) }))
  })
  process.stdout.write(`results: ${file}\n`)
  if (ok.length < runs.length) process.exitCode = 1
}

/** A child's figures without its output. */
export function slim (r: ChildResult | undefined): Omit<ChildResult, 'stdout' | 'stderr'> | undefined {
  if (r === undefined) return undefined
  const { stdout: _o, stderr: _e, ...rest } = r
  return rest
}

if (process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) await main()

