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
import { open, type FileHandle } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'

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
/** Slice size for writes: big enough to be cheap, small enough for prompt backpressure. */
const WRITE_SLICE = 1024 * 1024

interface DataSource {
  size: number
  /**
   * Bytes `[start, end)`: a view of the served Buffer, or read from the file
   * into `into` when given (reused between writes, so a big file costs no
   * allocation per slice). Safe to mutate only when `copy` is set.
   */
  read: (start: number, end: number, copy: boolean, into?: Buffer) => Promise<Buffer>
  /** Whether `read` wants a reusable `into` buffer. */
  file: boolean
  close: () => Promise<void>
}

/** Slices in flight per response when streaming a file; each reuses its buffer once flushed. */
const FILE_RING = 4

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

async function openSource (data: Uint8Array | string): Promise<DataSource> {
  if (typeof data !== 'string') {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    return {
      size: buf.length,
      read: async (start, end, copy) => copy ? Buffer.from(buf.subarray(start, end)) : buf.subarray(start, end),
      file: false,
      close: async () => {}
    }
  }
  const fh: FileHandle = await open(data, 'r')
  const { size } = await fh.stat()
  return {
    size,
    read: async (start, end, _copy, into) => {
      const out = into === undefined ? Buffer.allocUnsafe(end - start) : into.subarray(0, end - start)
      let off = 0
      while (off < out.length) {
        const { bytesRead } = await fh.read(out, off, out.length - off, start + off)
        if (bytesRead === 0) throw new Error('origin file shrank')
        off += bytesRead
      }
      return out
    },
    file: true,
    close: async () => { await fh.close() }
  }
}

type Stats = { bytesSent: number, requests: number }

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

async function writeHead (socket: Socket, status: number, headers: Record<string, string>): Promise<boolean> {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  return await writeRaw(socket, Buffer.from(head + '\r\n', 'latin1'))
}

/**
 * Write and wait for drain if needed; false when the socket went away.
 * `onFlushed` counts bytes that reached the kernel; `settled` runs when the
 * write is over either way (its buffer may then be reused).
 */
async function writeRaw (socket: Socket, chunk: Buffer, onFlushed?: (n: number) => void, settled?: () => void): Promise<boolean> {
  if (socket.destroyed || socket.writableEnded) {
    settled?.()
    return false
  }
  const ok = socket.write(chunk, (err) => {
    if (err == null) onFlushed?.(chunk.length)
    settled?.()
  })
  if (ok) return true
  return await new Promise<boolean>((resolve) => {
    const done = (v: boolean) => () => {
      socket.off('drain', onDrain)
      socket.off('close', onClose)
      resolve(v)
    }
    const onDrain = done(true)
    const onClose = done(false)
    socket.once('drain', onDrain)
    socket.once('close', onClose)
  })
}

/** Stream `[start, end)` with backpressure, flipping bytes at `corrupt` offsets. */
async function sendBody (socket: Socket, src: DataSource, start: number, end: number, stats: Stats, corrupt?: readonly number[]): Promise<boolean> {
  const count = (n: number): void => { stats.bytesSent += n }
  // File slices go through a ring of reusable buffers: a buffer is refilled only after its write was flushed.
  const ring = src.file ? Array.from({ length: FILE_RING }, () => ({ buf: undefined as Buffer | undefined, flushed: Promise.resolve() })) : []
  for (let pos = start, i = 0; pos < end; pos += WRITE_SLICE, i++) {
    const stop = Math.min(end, pos + WRITE_SLICE)
    const hits = corrupt?.filter(o => o >= pos && o < stop) ?? []
    const slot = ring[i % FILE_RING]
    if (slot !== undefined) await slot.flushed
    const into = slot === undefined ? undefined : (slot.buf ??= Buffer.allocUnsafeSlow(WRITE_SLICE))
    const chunk = await src.read(pos, stop, hits.length > 0, into)
    for (const o of hits) chunk[o - pos] = (chunk[o - pos] ?? 0) ^ 0xff
    let flushed = (): void => {}
    if (slot !== undefined) slot.flushed = new Promise<void>(resolve => { flushed = resolve })
    if (!(await writeRaw(socket, chunk, count, flushed))) return false
  }
  return true
}

async function trickle (socket: Socket, src: DataSource, start: number, end: number, intervalMs: number, perTick: number, stats: Stats): Promise<void> {
  for (let pos = start; pos < end && !socket.destroyed; pos += perTick) {
    if (!(await sendBody(socket, src, pos, Math.min(end, pos + perTick), stats))) return
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** `[start, end)` in chunked framing; only payload bytes are counted. */
async function sendChunked (socket: Socket, src: DataSource, start: number, end: number, stats: Stats): Promise<boolean> {
  const count = (n: number): void => { stats.bytesSent += n }
  for (let pos = start; pos < end; pos += 64 * 1024) {
    const chunk = await src.read(pos, Math.min(end, pos + 64 * 1024), true)
    if (!(await writeRaw(socket, Buffer.from(`${chunk.length.toString(16)}\r\n`)))) return false
    if (!(await writeRaw(socket, chunk, count))) return false
    if (!(await writeRaw(socket, Buffer.from('\r\n')))) return false
  }
  return await writeRaw(socket, Buffer.from('0\r\n\r\n'))
}

/** Filler forever, until the client hangs up. */
async function endless (socket: Socket, stats: Stats): Promise<void> {
  const filler = Buffer.alloc(64 * 1024, 0x5a)
  const count = (n: number): void => { stats.bytesSent += n }
  while (!socket.destroyed) {
    if (!(await writeRaw(socket, filler, count))) return
    // Yield to the event loop so a client's reset is noticed even while writes succeed.
    await new Promise(resolve => setImmediate(resolve))
  }
}

const REASONS: Record<number, string> = {
  200: 'OK', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 416: 'Range Not Satisfiable', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout'
}
