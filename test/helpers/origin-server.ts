/**
 * A counting, optionally misbehaving HTTP/1.1 origin for tests and benchmarks.
 * Written on raw `net` sockets (not `node:http`) so a test controls every
 * byte on the wire — wrong headers, lies, resets — and so a big file streams
 * with no framework cost.
 *
 * ```ts
 * const origin = await startOrigin({ data: bytes })            // or data: '/path/to/file'
 * const origin = await startOrigin({
 *   data: bytes,
 *   behaviour: (req, ctx) => ctx.n === 1 ? { kind: 'status', status: 503, retryAfter: '1' } : undefined
 * })
 * origin.url        // 'http://127.0.0.1:<port>/content'  (any path serves the same data)
 * origin.bytesSent  // body bytes handed to the kernel (headers excluded)
 * origin.requests   // requests received; origin.log has one entry per request
 * await origin.close()
 * ```
 *
 * Default behaviour: `GET`/`HEAD` with a single `Range: bytes=a-b` (or `a-`,
 * `-n`) → 206 with Content-Range and Content-Length; no or unparseable Range →
 * 200 with the whole file; unsatisfiable → 416; keep-alive unless the client
 * says `Connection: close`. `behaviour(req, ctx)` may return a
 * {@link Behaviour} to misbehave on that request; `undefined` means default.
 *
 * Binds 127.0.0.1 (or `host`, which must be a loopback address) on port 0.
 */
import { createServer, type Server, type Socket } from 'node:net'
import {
  endless, openSource, sendBody, sendChunked, sendFragments, trickle, writeHead, writeRaw, type DataSource, type Stats
} from './origin-server-io.js'

/** What the origin does wrong on one request. Offsets are absolute file offsets. */
export type Behaviour =
  /** Answer with this status, a small body and optional Retry-After. */
  | { kind: 'status', status: number, retryAfter?: string }
  /** Normal 206 head, then TCP RST after `afterBytes` body bytes. */
  | { kind: 'reset', afterBytes: number }
  /** Normal 206 head, then a clean close (FIN) after `afterBytes` body bytes. */
  | { kind: 'truncate', afterBytes: number }
  /** Correct body, but this Content-Length header (then close). */
  | { kind: 'lie-length', contentLength: number }
  /** 206 with this Content-Range value and the correct body. */
  | { kind: 'content-range', value: string }
  /** Ignore Range: 200 with the whole file. */
  | { kind: 'ignore-range' }
  /** Read the request, never answer (not even a status line) until the client hangs up. */
  | { kind: 'silent' }
  /** Normal 206 head, `afterBytes` body bytes (default 0), then silence until the client hangs up. */
  | { kind: 'stall', afterBytes?: number }
  /** Normal 206, but `bytesPerTick` (default 1) body bytes every `intervalMs`. */
  | { kind: 'trickle', intervalMs: number, bytesPerTick?: number }
  /** Normal 206 with the bytes at these offsets flipped (XOR 0xff). */
  | { kind: 'corrupt', offsets: readonly number[] }
  /** Redirect to `location` (default status 302). */
  | { kind: 'redirect', location: string, status?: number }
  /** 206 head with the right Content-Range but no Content-Length; the range, then filler forever (close-delimited). */
  | { kind: 'endless' }
  /** An honest 206 sent with `Transfer-Encoding: chunked` instead of Content-Length. */
  | { kind: 'chunked' }
  /** An honest 206 written in random slices of 1..`maxBytes` bytes (seeded), each on its own event-loop turn. */
  | { kind: 'fragment', maxBytes: number, seed?: number }

export interface OriginRequest {
  method: string
  path: string
  /** Lower-cased header names. */
  headers: Record<string, string>
  /** The parsed single range, clamped to the file; undefined without a usable Range header. */
  range?: { start: number, end: number }
}

export interface OriginContext {
  /** 1 for the first request this server received, 2 for the next, … */
  n: number
  /** Size of the served data. */
  size: number
}

export interface OriginOptions {
  /** The bytes to serve, or a path to a file (streamed, never loaded whole). */
  data: Uint8Array | string
  behaviour?: (req: OriginRequest, ctx: OriginContext) => Behaviour | undefined
  /** Loopback address to bind. @default '127.0.0.1' */
  host?: string
}

export interface OriginLogEntry {
  n: number
  method: string
  path: string
  rangeHeader?: string
  behaviour?: Behaviour['kind']
}

export interface Origin {
  url: string
  port: number
  /** Body bytes written to sockets (counted when flushed to the kernel). */
  readonly bytesSent: number
  readonly requests: number
  /** Currently open client connections. */
  readonly connections: number
  /** Total connections accepted. */
  readonly connectionsAccepted: number
  readonly log: readonly OriginLogEntry[]
  close: () => Promise<void>
}

/** Largest request head accepted; requests carry no body. */
const MAX_HEAD_BYTES = 16 * 1024
export async function startOrigin (opts: OriginOptions): Promise<Origin> {
  const host = opts.host ?? '127.0.0.1'
  if (!host.startsWith('127.')) throw new Error('startOrigin: tests only bind loopback (127.0.0.0/8)')
  const src = await openSource(opts.data)
  const sockets = new Set<Socket>()
  const log: OriginLogEntry[] = []
  const stats = { bytesSent: 0, requests: 0, accepted: 0 }

  const server: Server = createServer({ noDelay: true }, (socket) => {
    stats.accepted++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {}) // resets by the client are routine here
    serveConnection(socket, src, opts.behaviour, stats, log)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0

  return {
    url: `http://${host}:${port}/content`,
    port,
    get bytesSent () { return stats.bytesSent },
    get requests () { return stats.requests },
    get connections () { return sockets.size },
    get connectionsAccepted () { return stats.accepted },
    log,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
      await src.close()
    }
  }
}

/** Parse requests off one connection, one at a time (no pipelining needed). */
function serveConnection (socket: Socket, src: DataSource, behaviour: OriginOptions['behaviour'], stats: Stats, log: OriginLogEntry[]): void {
  let pending: Buffer = Buffer.alloc(0)
  let busy = false
  const pump = async (): Promise<void> => {
    if (busy) return
    busy = true
    try {
      for (;;) {
        if (socket.destroyed) return
        const end = pending.indexOf('\r\n\r\n')
        if (end < 0) {
          if (pending.length > MAX_HEAD_BYTES) socket.destroy()
          return
        }
        const head = pending.subarray(0, end).toString('latin1')
        pending = pending.subarray(end + 4)
        const { req, unsatisfiable } = parseHead(head, src.size)
        const keepAlive = await respond(socket, req, unsatisfiable, src, behaviour, stats, log)
        if (!keepAlive) {
          if (!socket.destroyed) socket.end()
          return
        }
      }
    } catch {
      socket.destroy()
    } finally {
      busy = false
    }
  }
  socket.on('data', (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    void pump()
  })
}

function parseHead (head: string, size: number): { req: OriginRequest, unsatisfiable: boolean } {
  const lines = head.split('\r\n')
  const [method = '', path = '/'] = (lines[0] ?? '').split(' ')
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':')
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
  }
  const req: OriginRequest = { method, path, headers }
  const range = parseRange(headers.range, size)
  if (range != null) req.range = range
  return { req, unsatisfiable: range === null }
}

/** One satisfiable byte range, `null` when unsatisfiable, `undefined` when absent/unparseable. */
function parseRange (value: string | undefined, size: number): { start: number, end: number } | undefined | null {
  if (value === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0 || size === 0) return null
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (start >= size || end < start) return null
  return { start, end }
}

/** Answer one request. Resolves to whether the connection may carry another. */
async function respond (socket: Socket, req: OriginRequest, unsatisfiable: boolean, src: DataSource, behaviour: OriginOptions['behaviour'], stats: Stats, log: OriginLogEntry[]): Promise<boolean> {
  stats.requests++
  const n = stats.requests
  const rawRange = req.headers.range
  const b = behaviour?.(req, { n, size: src.size })
  const entry: OriginLogEntry = { n, method: req.method, path: req.path }
  if (rawRange !== undefined) entry.rangeHeader = rawRange
  if (b !== undefined) entry.behaviour = b.kind
  log.push(entry)

  const keepAlive = req.headers.connection?.toLowerCase() !== 'close'
  const conn = keepAlive ? 'keep-alive' : 'close'
  const isHead = req.method === 'HEAD'
  if (req.method !== 'GET' && !isHead) {
    await writeHead(socket, 405, { 'content-length': '0', connection: conn })
    return keepAlive
  }

  if (b?.kind === 'silent') {
    await new Promise(resolve => socket.once('close', resolve))
    return false
  }
  if (b?.kind === 'status') {
    const body = Buffer.from(`status ${b.status}\n`)
    const h: Record<string, string> = { 'content-type': 'text/plain', 'content-length': String(body.length), connection: conn }
    if (b.retryAfter !== undefined) h['retry-after'] = b.retryAfter
    await writeHead(socket, b.status, h)
    if (!isHead) await writeRaw(socket, body)
    return keepAlive
  }
  if (b?.kind === 'redirect') {
    await writeHead(socket, b.status ?? 302, { location: b.location, 'content-length': '0', connection: conn })
    return keepAlive
  }
  if (unsatisfiable) {
    await writeHead(socket, 416, { 'content-range': `bytes */${src.size}`, 'content-length': '0', connection: conn })
    return keepAlive
  }

  const whole = req.range === undefined || b?.kind === 'ignore-range'
  const start = whole ? 0 : req.range!.start
  const end = whole ? src.size - 1 : req.range!.end // inclusive
  const length = end - start + 1
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    'content-length': String(length),
    connection: conn
  }
  if (!whole) headers['content-range'] = `bytes ${start}-${end}/${src.size}`
  if (b?.kind === 'content-range') headers['content-range'] = b.value
  if (b?.kind === 'lie-length') headers['content-length'] = String(b.contentLength)
  if (b?.kind === 'endless') {
    delete headers['content-length']
    headers.connection = 'close'
  }
  if (b?.kind === 'chunked') {
    delete headers['content-length']
    headers['transfer-encoding'] = 'chunked'
  }
  if (!(await writeHead(socket, whole ? 200 : 206, headers))) return false
  if (isHead) return keepAlive

  const body = { start, end: end + 1, corrupt: b?.kind === 'corrupt' ? b.offsets : undefined }
  switch (b?.kind) {
    case 'reset':
      await sendBody(socket, src, body.start, Math.min(body.end, start + b.afterBytes), stats)
      socket.resetAndDestroy()
      return false
    case 'truncate':
      await sendBody(socket, src, body.start, Math.min(body.end, start + b.afterBytes), stats)
      socket.end()
      return false
    case 'stall':
      await sendBody(socket, src, body.start, Math.min(body.end, start + (b.afterBytes ?? 0)), stats)
      await new Promise(resolve => socket.once('close', resolve))
      return false
    case 'trickle':
      await trickle(socket, src, body.start, body.end, b.intervalMs, b.bytesPerTick ?? 1, stats)
      return keepAlive
    case 'lie-length':
      await sendBody(socket, src, body.start, body.end, stats)
      return false // the framing is now wrong either way; hang up
    case 'fragment':
      return await sendFragments(socket, src, body.start, body.end, b.maxBytes, b.seed ?? 1, stats) && keepAlive
    case 'chunked':
      return await sendChunked(socket, src, body.start, body.end, stats) && keepAlive
    case 'endless':
      await sendBody(socket, src, body.start, body.end, stats)
      await endless(socket, stats)
      return false
    default:
      return await sendBody(socket, src, body.start, body.end, stats, body.corrupt) && keepAlive
  }
}
