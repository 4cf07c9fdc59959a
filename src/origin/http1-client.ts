/**
 * A minimal HTTP/1.1 client for `http:` origins: keep-alive connections per
 * host, one request at a time on each, responses read by our own parser
 * (http1-parser.ts) from one reused read buffer per connection
 * (`net.Socket`'s `onread`) — no allocation per socket read and no copy per
 * body chunk, which is what node:http costs (docs/benchmarks.md).
 *
 * It does only what a Range download needs: GET with fixed headers. Timing
 * (connect, head, body, minimum rate) is the caller's: RangeRequest's
 * StallWatch. `https:` origins keep using node:https.
 *
 * Body bytes are *lent*: the view passed to `data` is valid only during the
 * call. A consumer that pauses from inside `data` gets no more events until
 * it resumes; the rest of that read is kept (copied) meanwhile.
 */
import { connect, type LookupFunction, type Socket } from 'node:net'
import { HttpParseError, ResponseParser } from './http1-parser.js'

/** What an exchange reports, in order: socket, head, data…, then end or error (once). */
export interface ExchangeHandlers {
  /** A connection was given to the request (a new one, or an idle one reused). */
  socket: () => void
  head: (status: number, headers: Record<string, string>) => void
  /** Body bytes, lent for the duration of the call. */
  data: (chunk: Buffer) => void
  /** The body ended as its framing says. */
  end: () => void
  error: (err: Error) => void
}

export interface Http1PoolInit {
  /** Connections per host at most. */
  maxSockets: number
  /** Address lookup for new connections (the redirect guard). */
  lookup?: LookupFunction
  /** An idle connection is closed after this long. @default 30000 */
  idleMs?: number
  /** Read buffer per connection. @default 65536 */
  readBufferBytes?: number
}

/** Closes idle keep-alive connections after this long, in ms. */
export const DEFAULT_IDLE_MS = 30_000
const DEFAULT_READ_BUFFER = 64 * 1024
/** Bytes an exchange holds for a paused consumer at most. */
const MAX_HELD_WHILE_PAUSED = 1024 * 1024

type PoolConfig = Required<Omit<Http1PoolInit, 'lookup'>> & { lookup?: LookupFunction }

export class Http1Pool {
  readonly #init: PoolConfig
  readonly #hosts = new Map<string, HostPool>()
  #destroyed = false

  constructor (init: Http1PoolInit) {
    if (!Number.isSafeInteger(init.maxSockets) || init.maxSockets < 1) throw new RangeError(`maxSockets must be a positive integer, got ${init.maxSockets}`)
    this.#init = { idleMs: DEFAULT_IDLE_MS, readBufferBytes: DEFAULT_READ_BUFFER, ...init }
  }

  /** Open connections (idle and busy), for tests and stats. */
  get sockets (): number {
    let n = 0
    for (const h of this.#hosts.values()) n += h.conns.size
    return n
  }

  /**
   * Send `GET url` with `headers` (names and values must be plain tokens and
   * text: they are ours, not a peer's). Events go to `handlers`.
   */
  request (url: URL, headers: Record<string, string>, handlers: ExchangeHandlers): Exchange {
    if (url.protocol !== 'http:') throw new RangeError(`Http1Pool serves http: URLs, not ${url.protocol}`)
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const port = url.port === '' ? 80 : Number(url.port)
    const key = `${host}|${port}`
    let pool = this.#hosts.get(key)
    if (pool === undefined) {
      pool = new HostPool(host, port, this.#init, () => { if (pool?.empty === true) this.#hosts.delete(key) })
      this.#hosts.set(key, pool)
    }
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`]
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
    lines.push('Connection: keep-alive', '', '')
    const exchange = new Exchange(lines.join('\r\n'), handlers, pool)
    if (this.#destroyed) exchange.fail(new Error('http pool destroyed'))
    else pool.enqueue(exchange)
    return exchange
  }

  /** Close every connection; queued and running exchanges fail. */
  destroy (): void {
    this.#destroyed = true
    for (const pool of [...this.#hosts.values()]) pool.destroy()
    this.#hosts.clear()
  }
}

class HostPool {
  readonly conns = new Set<Conn>()
  readonly idle: Conn[] = []
  readonly queue: Exchange[] = []
  readonly host: string
  readonly port: number
  readonly init: PoolConfig
  readonly #onEmpty: () => void

  constructor (host: string, port: number, init: PoolConfig, onEmpty: () => void) {
    this.host = host
    this.port = port
    this.init = init
    this.#onEmpty = onEmpty
  }

  get empty (): boolean { return this.conns.size === 0 && this.queue.length === 0 }

  enqueue (exchange: Exchange): void {
    this.queue.push(exchange)
    this.dispatch()
  }

  dequeue (exchange: Exchange): void {
    const i = this.queue.indexOf(exchange)
    if (i >= 0) this.queue.splice(i, 1)
    if (this.empty) this.#onEmpty()
  }

  /** Give queued exchanges an idle connection, or a new one while under the cap. */
  dispatch (): void {
    while (this.queue.length > 0) {
      let conn = this.idle.pop()
      if (conn === undefined) {
        if (this.conns.size >= this.init.maxSockets) return
        conn = new Conn(this)
        this.conns.add(conn)
      }
      conn.assign(this.queue.shift() as Exchange)
    }
  }

  /** A connection finished an exchange and may carry another. */
  release (conn: Conn): void {
    if (this.queue.length > 0) {
      conn.assign(this.queue.shift() as Exchange)
      return
    }
    conn.park()
    this.idle.push(conn)
  }

  /** A connection closed or failed. */
  drop (conn: Conn): void {
    this.conns.delete(conn)
    const i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
    this.dispatch()
    if (this.empty) this.#onEmpty()
  }

  destroy (): void {
    for (const e of this.queue.splice(0)) e.fail(new Error('http pool destroyed'))
    for (const c of [...this.conns]) c.destroy(new Error('http pool destroyed'))
  }
}

/** One keep-alive connection. */
class Conn {
  readonly #pool: HostPool
  readonly #socket: Socket
  #exchange: Exchange | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #dead = false

  constructor (pool: HostPool) {
    this.#pool = pool
    const buffer = Buffer.allocUnsafe(pool.init.readBufferBytes)
    this.#socket = connect({
      host: pool.host,
      port: pool.port,
      ...(pool.init.lookup !== undefined ? { lookup: pool.init.lookup } : {}),
      onread: { buffer, callback: (n: number, buf: Uint8Array) => { this.#onRead(buf as Buffer, n); return true } }
    })
    this.#socket.setNoDelay(true)
    this.#socket.on('end', this.#onEnd)
    this.#socket.on('error', this.#onError)
    this.#socket.on('close', this.#onClose)
  }

  assign (exchange: Exchange): void {
    this.#clearIdle()
    this.#socket.ref()
    this.#exchange = exchange
    exchange.attach(this)
    this.#socket.write(exchange.requestText)
  }

  /** Idle: no reads expected, does not keep the process alive, closes after a while. */
  park (): void {
    this.#exchange = undefined
    this.#socket.unref()
    this.#clearIdle()
    this.#idleTimer = setTimeout(() => { this.destroy() }, this.#pool.init.idleMs)
    this.#idleTimer.unref()
  }

  pause (): void { this.#socket.pause() }
  resume (): void { this.#socket.resume() }

  /** The exchange is over: reuse the connection if it is clean, else close it. */
  done (exchange: Exchange, reusable: boolean): void {
    if (this.#exchange !== exchange) return
    this.#exchange = undefined
    if (reusable && !this.#dead) {
      this.#socket.resume() // in case the exchange ended paused
      this.#pool.release(this)
    } else {
      this.destroy()
    }
  }

  destroy (err?: Error): void {
    if (this.#dead) return
    this.#dead = true
    this.#clearIdle()
    const exchange = this.#exchange
    this.#exchange = undefined
    this.#socket.destroy()
    this.#pool.drop(this)
    if (exchange !== undefined && err !== undefined) exchange.fail(err)
  }

  #clearIdle (): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer)
    this.#idleTimer = undefined
  }

  #onRead (buf: Buffer, n: number): void {
    const exchange = this.#exchange
    if (exchange === undefined) {
      // bytes nobody asked for on an idle connection: it is not in a state we can trust
      this.destroy()
      return
    }
    exchange.feed(buf.subarray(0, n))
  }

  readonly #onEnd = (): void => {
    const exchange = this.#exchange
    this.#exchange = undefined
    exchange?.eof()
    this.destroy()
  }

  readonly #onError = (err: Error): void => {
    this.destroy(err)
  }

  readonly #onClose = (): void => {
    this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
  }
}

/** One request and its response. */
export class Exchange {
  readonly requestText: string
  readonly #handlers: ExchangeHandlers
  readonly #pool: HostPool
  readonly #parser: ResponseParser
  #conn: Conn | undefined
  #paused = false
  /** bytes read but not parsed while paused (a copy: the read buffer is reused) */
  #pending: Buffer | undefined
  #over = false
  /** the server closed the connection while bytes were held for a paused consumer */
  #eofHeld = false
  /** bytes followed the response on the connection: it cannot be reused */
  #extra = false

  constructor (requestText: string, handlers: ExchangeHandlers, pool: HostPool) {
    this.requestText = requestText
    this.#handlers = handlers
    this.#pool = pool
    this.#parser = new ResponseParser({
      head: (h) => {
        this.#handlers.head(h.status, h.headers)
        if (this.#over) this.#parser.stop()
      },
      body: (bytes) => {
        if (this.#over) return
        this.#handlers.data(bytes)
        if (this.#paused || this.#over) this.#parser.stop()
      },
      complete: () => {}
    })
  }

  attach (conn: Conn): void {
    this.#conn = conn
    if (!this.#over) this.#handlers.socket()
  }

  /** Stop delivering data until resume(). */
  pause (): void {
    if (this.#over || this.#paused) return
    this.#paused = true
    this.#conn?.pause()
  }

  resume (): void {
    if (this.#over || !this.#paused) return
    this.#paused = false
    const pending = this.#pending
    this.#pending = undefined
    if (pending !== undefined) this.#run(pending)
    if (this.#over || this.#paused) return
    if (this.#eofHeld) this.eof()
    else this.#conn?.resume()
  }

  /** Give up the exchange: no more events; its connection is closed unless the response was complete. */
  destroy (): void {
    if (this.#over) return
    this.#over = true
    const conn = this.#conn
    if (conn === undefined) this.#pool.dequeue(this)
    else conn.done(this, false)
  }

  /** Bytes from the connection (a view of its read buffer). */
  feed (bytes: Buffer): void {
    if (this.#over) return
    if (this.#paused) {
      // already parsed up to a pause; keep these for resume() (a paused socket
      // reads nothing more, so this holds at most a read or two — capped anyway)
      const held = (this.#pending?.length ?? 0) + bytes.length
      if (held > MAX_HELD_WHILE_PAUSED) {
        this.#fail(new Error(`${held} bytes arrived while paused`))
        return
      }
      this.#pending = this.#pending === undefined ? Buffer.from(bytes) : Buffer.concat([this.#pending, bytes])
      return
    }
    this.#run(bytes)
  }

  /** The server closed the connection. */
  eof (): void {
    if (this.#over) return
    if (this.#paused) {
      // bytes may still be held for the paused consumer: deliver them on resume, then end
      this.#eofHeld = true
      return
    }
    try {
      this.#parser.finish()
    } catch (err) {
      const e = err instanceof HttpParseError && err.code === 'HPE_INVALID_EOF_STATE'
        ? Object.assign(new Error(`connection closed before the response ended (${err.message})`), { code: 'ECONNRESET' })
        : err as Error
      this.#fail(e)
      return
    }
    this.#complete()
  }

  /** Fail with `err` (once). */
  fail (err: Error): void { this.#fail(err) }

  #run (bytes: Buffer): void {
    let at: number
    try {
      at = this.#parser.execute(bytes)
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    if (this.#over) return
    if (this.#parser.done) {
      if (at < bytes.length) this.#extra = true
      this.#complete()
    } else if (at < bytes.length) {
      this.#pending = Buffer.from(bytes.subarray(at))
    }
  }

  #complete (): void {
    if (this.#over) return
    this.#over = true
    this.#conn?.done(this, this.#parser.keepAlive && !this.#extra)
    this.#handlers.end()
  }

  #fail (err: Error): void {
    if (this.#over) return
    this.#over = true
    const conn = this.#conn
    if (conn === undefined) this.#pool.dequeue(this)
    else conn.done(this, false)
    this.#handlers.error(err)
  }
}
