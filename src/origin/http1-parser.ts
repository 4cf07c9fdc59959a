/**
 * An HTTP/1.1 response parser, pure (no I/O): bytes in, events out. It reads
 * one response — interim 1xx responses are skipped — and says where its bytes
 * end, so the connection can carry the next one.
 *
 * Why our own: node:http's parser copies every body chunk into a fresh buffer
 * and the socket allocates another per read; for a 1 GiB download that was
 * over a CPU second of copies and garbage on the event loop, against ~0.15 s
 * for a socket reading into one reused buffer (docs/benchmarks.md). This
 * parser hands out body bytes as views of the caller's buffer.
 *
 * Hostile input (THREATS T4, T5, C4): the head is capped
 * ({@link MAX_HEAD_BYTES}) before it is kept, chunk-size lines and trailers
 * likewise; Content-Length must be plain digits, equal if repeated, and never
 * beside Transfer-Encoding (request smuggling's favourite confusion);
 * obsolete line folding, bare LF and non-token header names are refused.
 * Errors carry `code` values named like node's (`HPE_…`), so callers treat
 * both parsers' protocol errors alike.
 */

/** Longest response head (status line + headers), as node's default. */
export const MAX_HEAD_BYTES = 16 * 1024
/** Longest chunk-size line (size, extensions, CRLF). */
export const MAX_CHUNK_LINE_BYTES = 1024
/** Longest trailer section. */
export const MAX_TRAILER_BYTES = 16 * 1024
/** Interim (1xx) responses skipped before a final one. */
export const MAX_INTERIM_RESPONSES = 8

/** A malformed response; `code` names the rule broken. */
export class HttpParseError extends Error {
  override readonly name = 'HttpParseError'
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** A final response's head. Header names are lower case; repeated fields are joined with ", ". */
export interface ParsedHead {
  status: number
  headers: Record<string, string>
  /** The connection may carry another request after this response. */
  keepAlive: boolean
}

export interface ParserEvents {
  /** The final response's head. */
  head: (head: ParsedHead) => void
  /** Body bytes: a view of the buffer given to execute(), valid only during the call. */
  body: (bytes: Buffer) => void
  /** The body ended as its framing says. */
  complete: () => void
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'done'

const CR = 0x0d
const LF = 0x0a
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [\t -~\x80-\xff]*)?$/
/** Fields that must not differ when repeated (the rest are joined). */
const SINGLE = new Set(['content-length', 'content-range', 'location', 'retry-after', 'content-type'])

export class ResponseParser {
  readonly #on: ParserEvents
  #state: State = 'head'
  /** bytes of the head (or of a chunk-size line / trailers) kept across buffers */
  #line: Buffer[] = []
  #lineBytes = 0
  #headBytes = 0
  #interim = 0
  #remaining = 0
  #trailerBytes = 0
  /** bytes of the CRLF after a chunk's data seen so far */
  #crlf = 0
  #keepAlive = false
  /** execute() stops after the current body event when set (the consumer paused) */
  #stopped = false

  constructor (events: ParserEvents) {
    this.#on = events
  }

  /** The response is complete; bytes after it belong to the next one. */
  get done (): boolean { return this.#state === 'done' }
  /** The connection may carry another response after this one (known once the head is parsed). */
  get keepAlive (): boolean { return this.#keepAlive }
  /** The body is delimited by the connection closing: finish() completes it. */
  get untilClose (): boolean { return this.#state === 'close' }
  /** Stop execute() after the current event; it returns where it stopped. */
  stop (): void { this.#stopped = true }

  /**
   * Parse `buf[start..end)`. Returns the offset of the first byte not
   * consumed: `end`, or less when the response completed (the rest is not
   * this response's) or stop() was called from an event.
   * @throws {HttpParseError}
   */
  execute (buf: Buffer, start = 0, end = buf.length): number {
    this.#stopped = false
    let at = start
    while (at < end && !this.#stopped) {
      switch (this.#state) {
        case 'head': at = this.#headBytesFrom(buf, at, end); break
        case 'length':
        case 'chunk-data': at = this.#counted(buf, at, end); break
        case 'close': {
          const view = buf.subarray(at, end)
          at = end
          this.#on.body(view)
          break
        }
        case 'chunk-size': at = this.#chunkSize(buf, at, end); break
        case 'chunk-crlf': at = this.#chunkCrlf(buf, at, end); break
        case 'trailers': at = this.#trailers(buf, at, end); break
        case 'done': return at
      }
    }
    return at
  }

  /**
   * The connection ended. Completes a body delimited by the close.
   * @throws {HttpParseError} when a response was under way (truncated)
   */
  finish (): void {
    if (this.#state === 'close') {
      this.#finish()
      return
    }
    if (this.#state !== 'done') throw new HttpParseError('HPE_INVALID_EOF_STATE', `connection closed in the ${this.#state} state`)
  }

  /** Body bytes of known count: a Content-Length body or one chunk's data. */
  #counted (buf: Buffer, at: number, end: number): number {
    const n = Math.min(this.#remaining, end - at)
    this.#remaining -= n
    const last = this.#remaining === 0
    if (last) this.#state = this.#state === 'length' ? 'done' : 'chunk-crlf'
    this.#on.body(buf.subarray(at, at + n))
    if (last && this.#state === 'done') this.#on.complete()
    return at + n
  }

  #finish (): void {
    this.#state = 'done'
    this.#on.complete()
  }

  /** Collect a line ending in CRLF, capped at `cap` bytes. Returns the line (without CRLF) or undefined (need more), and the next offset. */
  #takeLine (buf: Buffer, at: number, end: number, cap: number, what: string): [Buffer | undefined, number] {
    const lf = buf.indexOf(LF, at)
    const whole = lf !== -1 && lf < end
    const stop = whole ? lf + 1 : end
    const n = stop - at
    if (this.#lineBytes + n > cap) throw new HttpParseError('HPE_HEADER_OVERFLOW', `${what} longer than ${cap} bytes`)
    if (!whole) {
      this.#line.push(Buffer.from(buf.subarray(at, stop))) // kept across buffers: a copy, the caller's buffer is reused
      this.#lineBytes += n
      return [undefined, stop]
    }
    let line: Buffer
    if (this.#line.length === 0) {
      line = buf.subarray(at, stop)
    } else {
      this.#line.push(buf.subarray(at, stop))
      line = Buffer.concat(this.#line)
      this.#line = []
    }
    this.#lineBytes = 0
    if (line.length < 2 || line[line.length - 2] !== CR) throw new HttpParseError('HPE_LF_EXPECTED', `${what}: line not ended by CRLF`)
    return [line.subarray(0, line.length - 2), stop]
  }

  /** A line of a capped section (head, trailers): `room` is what the section's earlier lines left; a final CRLF always fits. */
  #takeSectionLine (buf: Buffer, at: number, end: number, room: number, what: string): [Buffer | undefined, number] {
    return this.#takeLine(buf, at, end, Math.max(2, room), what)
  }

  // ---- head ---------------------------------------------------------------

  #status = 0
  #minor = 1
  #fields: Array<[string, string]> = []

  #headBytesFrom (buf: Buffer, at: number, end: number): number {
    while (at < end) {
      const [line, next] = this.#takeSectionLine(buf, at, end, MAX_HEAD_BYTES - this.#headBytes, 'response head')
      at = next
      if (line === undefined) return at
      this.#headBytes += line.length + 2
      if (this.#status === 0) {
        this.#statusLine(line)
      } else if (line.length === 0) {
        this.#endOfHead()
        return at
      } else {
        this.#field(line)
      }
    }
    return at
  }

  #statusLine (line: Buffer): void {
    const text = line.toString('latin1')
    const m = STATUS_LINE.exec(text)
    if (m === null) throw new HttpParseError('HPE_INVALID_CONSTANT', `not an HTTP/1.x status line: ${JSON.stringify(text.slice(0, 64))}`)
    this.#minor = Number(m[1])
    this.#status = Number(m[2])
    if (this.#status < 100) throw new HttpParseError('HPE_INVALID_STATUS', `status ${this.#status}`)
  }

  #field (line: Buffer): void {
    const first = line[0]
    if (first === 0x20 || first === 0x09) throw new HttpParseError('HPE_INVALID_HEADER_TOKEN', 'obsolete line folding in the response head')
    const colon = line.indexOf(0x3a)
    if (colon <= 0) throw new HttpParseError('HPE_INVALID_HEADER_TOKEN', 'header line without a name')
    const name = line.toString('latin1', 0, colon)
    if (!TOKEN.test(name)) throw new HttpParseError('HPE_INVALID_HEADER_TOKEN', `bad header name ${JSON.stringify(name.slice(0, 64))}`)
    const value = line.toString('latin1', colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new HttpParseError('HPE_INVALID_HEADER_TOKEN', `control character in header ${name}`)
    this.#fields.push([name.toLowerCase(), value])
  }

  #endOfHead (): void {
    const status = this.#status
    const headers: Record<string, string> = {}
    for (const [name, value] of this.#fields) {
      const had = headers[name]
      if (had === undefined) headers[name] = value
      else if (SINGLE.has(name)) {
        if (had !== value) {
          const code = name === 'content-length' ? 'HPE_UNEXPECTED_CONTENT_LENGTH' : 'HPE_INVALID_HEADER_TOKEN'
          throw new HttpParseError(code, `conflicting ${name} headers`)
        }
      } else headers[name] = `${had}, ${value}`
    }
    this.#fields = []
    this.#status = 0
    this.#headBytes = 0
    if (status < 200) {
      if (status === 101) throw new HttpParseError('HPE_INVALID_STATUS', 'unexpected protocol switch (101)')
      if (++this.#interim > MAX_INTERIM_RESPONSES) throw new HttpParseError('HPE_INVALID_STATUS', `more than ${MAX_INTERIM_RESPONSES} interim responses`)
      return // an interim response: the final one follows
    }
    const connection = (headers.connection ?? '').toLowerCase().split(',').map(s => s.trim())
    this.#keepAlive = this.#minor === 1 ? !connection.includes('close') : connection.includes('keep-alive')
    const te = headers['transfer-encoding']
    const cl = headers['content-length']
    const noBody = status === 204 || status === 304
    if (te !== undefined && cl !== undefined) {
      throw new HttpParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'both Content-Length and Transfer-Encoding')
    }
    let length: number | undefined
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) throw new HttpParseError('HPE_INVALID_CONTENT_LENGTH', `bad Content-Length ${JSON.stringify(cl.slice(0, 32))}`)
      length = Number(cl)
    }
    let next: State
    if (noBody || length === 0) {
      next = 'done'
    } else if (te !== undefined) {
      const codings = te.toLowerCase().split(',').map(s => s.trim())
      if (codings[codings.length - 1] !== 'chunked') next = 'close'
      else if (codings.length === 1) next = 'chunk-size'
      else throw new HttpParseError('HPE_INVALID_TRANSFER_ENCODING', `unsupported Transfer-Encoding ${JSON.stringify(te.slice(0, 64))}`)
    } else if (length !== undefined) {
      this.#remaining = length
      next = 'length'
    } else {
      next = 'close'
    }
    if (next === 'close') this.#keepAlive = false
    this.#on.head({ status, headers, keepAlive: this.#keepAlive })
    if (next === 'done') this.#finish()
    else this.#state = next
  }

  // ---- chunked ------------------------------------------------------------

  #chunkSize (buf: Buffer, at: number, end: number): number {
    const [line, next] = this.#takeLine(buf, at, end, MAX_CHUNK_LINE_BYTES, 'chunk-size line')
    if (line === undefined) return next
    const text = line.toString('latin1')
    const m = /^([0-9A-Fa-f]{1,13})[ \t]*(?:;[\t -~]*)?$/.exec(text)
    if (m === null) throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', `bad chunk size line ${JSON.stringify(text.slice(0, 32))}`)
    const size = parseInt(m[1] as string, 16)
    if (size === 0) {
      this.#trailerBytes = 0
      this.#state = 'trailers'
    } else {
      this.#remaining = size
      this.#state = 'chunk-data'
    }
    return next
  }

  #chunkCrlf (buf: Buffer, at: number, end: number): number {
    while (at < end && this.#crlf < 2) {
      if (buf[at] !== (this.#crlf === 0 ? CR : LF)) throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', 'chunk data not followed by CRLF')
      this.#crlf++
      at++
    }
    if (this.#crlf === 2) {
      this.#crlf = 0
      this.#state = 'chunk-size'
    }
    return at
  }

  #trailers (buf: Buffer, at: number, end: number): number {
    while (at < end) {
      const [line, next] = this.#takeSectionLine(buf, at, end, MAX_TRAILER_BYTES - this.#trailerBytes, 'trailer section')
      at = next
      if (line === undefined) return at
      this.#trailerBytes += line.length + 2
      if (line.length === 0) {
        this.#finish()
        return at
      }
    }
    return at
  }
}
