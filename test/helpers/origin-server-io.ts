/**
 * The byte-level half of the test origin (see `origin-server.ts`): where the
 * served bytes come from (a Buffer, or a file read through a ring of reused
 * buffers), and the ways a response body can be written — honestly with
 * backpressure, in random fragments, chunked, trickled, or endlessly.
 * `bytesSent` counts body bytes when a write is flushed to the kernel.
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { Socket } from 'node:net'

/** Slice size for writes: big enough to be cheap, small enough for prompt backpressure. */
const WRITE_SLICE = 1024 * 1024

export interface DataSource {
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

/** Serve `data` from memory, or from the file at that path (opened once, read per slice). */
export async function openSource (data: Uint8Array | string): Promise<DataSource> {
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

export interface Stats { bytesSent: number, requests: number }

/** Status line and headers, exactly as given (tests rely on sending wrong ones). */
export async function writeHead (socket: Socket, status: number, headers: Record<string, string>): Promise<boolean> {
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}\r\n`
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`
  return await writeRaw(socket, Buffer.from(head + '\r\n', 'latin1'))
}

/**
 * Write and wait for drain if needed; false when the socket went away.
 * `onFlushed` counts bytes that reached the kernel; `settled` runs when the
 * write is over either way (its buffer may then be reused).
 */
export async function writeRaw (socket: Socket, chunk: Buffer, onFlushed?: (n: number) => void, settled?: () => void): Promise<boolean> {
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
export async function sendBody (socket: Socket, src: DataSource, start: number, end: number, stats: Stats, corrupt?: readonly number[]): Promise<boolean> {
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

export async function trickle (socket: Socket, src: DataSource, start: number, end: number, intervalMs: number, perTick: number, stats: Stats): Promise<void> {
  for (let pos = start; pos < end && !socket.destroyed; pos += perTick) {
    if (!(await sendBody(socket, src, pos, Math.min(end, pos + perTick), stats))) return
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

/** `[start, end)` in random-size writes, so the client sees many different chunk boundaries. */
export async function sendFragments (socket: Socket, src: DataSource, start: number, end: number, maxBytes: number, seed: number, stats: Stats): Promise<boolean> {
  let x = seed >>> 0 || 1
  for (let pos = start; pos < end;) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    const stop = Math.min(end, pos + 1 + (x % maxBytes))
    if (!(await sendBody(socket, src, pos, stop, stats))) return false
    pos = stop
    await new Promise(resolve => setImmediate(resolve))
  }
  return true
}

/** `[start, end)` in chunked framing; only payload bytes are counted. */
export async function sendChunked (socket: Socket, src: DataSource, start: number, end: number, stats: Stats): Promise<boolean> {
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
export async function endless (socket: Socket, stats: Stats): Promise<void> {
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
