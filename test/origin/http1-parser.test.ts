import test from 'node:test'
import assert from 'node:assert/strict'
import { HttpParseError, MAX_CHUNK_LINE_BYTES, MAX_HEAD_BYTES, ResponseParser, type ParsedHead } from '../../src/origin/http1-parser.js'

interface Parsed { head?: ParsedHead, body: Buffer, complete: boolean, consumed: number }

/** Feed `input` cut at `cuts`, each piece in a fresh buffer that is scribbled over afterwards (bytes are only lent). */
function parse (input: string | Buffer, cuts: number[] = [], eof = false): Parsed {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input
  const out: Parsed = { body: Buffer.alloc(0), complete: false, consumed: 0 }
  const parts: Buffer[] = []
  const p = new ResponseParser({
    head: (h) => { out.head = h },
    body: (b) => { parts.push(Buffer.from(b)) },
    complete: () => { out.complete = true }
  })
  let at = 0
  for (const c of [...cuts.filter(c => c > 0 && c < bytes.length), bytes.length]) {
    const piece = Buffer.from(bytes.subarray(at, c))
    const n = p.execute(piece)
    piece.fill(0x58) // the parser must not keep views of our buffer
    out.consumed += n
    if (p.done) break
    at = c
  }
  if (eof) p.finish()
  out.body = Buffer.concat(parts)
  return out
}

function everySplit (input: string, check: (r: Parsed) => void): void {
  for (let i = 0; i <= input.length; i++) check(parse(input, [i]))
  for (let i = 1; i < input.length; i += 3) check(parse(input, [i, i + 1, i + 7]))
}

const CL = 'HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\nX-Two: a\r\nx-two: b\r\n\r\n0123456789'
const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n'

test('Content-Length body: the same head and body at every split point, and nothing read past it', () => {
  everySplit(CL + 'HTTP/1.1 200 next', (r) => {
    assert.equal(r.head?.status, 206)
    assert.equal(r.head?.headers['content-range'], 'bytes 0-9/100')
    assert.equal(r.head?.headers['x-two'], 'a, b', 'repeated fields are joined')
    assert.equal(r.head?.keepAlive, true)
    assert.equal(r.body.toString(), '0123456789')
    assert.equal(r.complete, true)
    assert.equal(r.consumed, CL.length, 'stops at the end of the response')
  })
})

test('chunked body with extensions and trailers, at every split point', () => {
  everySplit(CHUNKED, (r) => {
    assert.equal(r.head?.status, 200)
    assert.equal(r.body.toString(), 'abcd0123456789')
    assert.equal(r.complete, true)
    assert.equal(r.consumed, CHUNKED.length)
  })
})

test('interim responses are skipped; 204 and 304 have no body; a body without length ends with the connection', () => {
  const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 206 OK\r\nContent-Length: 2\r\n\r\nhi')
  assert.equal(r.head?.status, 206)
  assert.equal(r.body.toString(), 'hi')
  for (const status of [204, 304]) {
    const n = parse(`HTTP/1.1 ${status} X\r\n\r\n`)
    assert.equal(n.complete, true)
    assert.equal(n.body.length, 0)
  }
  const open = parse('HTTP/1.1 200 OK\r\n\r\nuntil the end')
  assert.equal(open.complete, false)
  assert.equal(open.head?.keepAlive, false)
  const closed = parse('HTTP/1.1 200 OK\r\n\r\nuntil the end', [], true)
  assert.equal(closed.complete, true)
  assert.equal(closed.body.toString(), 'until the end')
})

test('keep-alive follows the version and the Connection header', () => {
  assert.equal(parse('HTTP/1.1 204 X\r\nConnection: close\r\n\r\n').head?.keepAlive, false)
  assert.equal(parse('HTTP/1.0 204 X\r\n\r\n').head?.keepAlive, false)
  assert.equal(parse('HTTP/1.0 204 X\r\nConnection: Keep-Alive\r\n\r\n').head?.keepAlive, true)
  assert.equal(parse('HTTP/1.1 200 X\r\nTransfer-Encoding: gzip\r\n\r\n').head?.keepAlive, false, 'not chunked: read to the close')
})

test('a truncated response is an error at the end of the connection', () => {
  for (const cut of [5, CL.length - 3, CHUNKED.length - 2]) {
    const src = cut === CHUNKED.length - 2 ? CHUNKED : CL
    assert.throws(() => parse(src.slice(0, cut), [], true), (e: unknown) => e instanceof HttpParseError && e.code === 'HPE_INVALID_EOF_STATE')
  }
})

test('malformed and hostile responses are refused with a code', () => {
  const cases: Array<[string, string]> = [
    ['HTTP/2 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/1.1 20 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['HTTP/1.1 099 Low\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 101 Switching\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\nContent-Length: 1\n\nx', 'HPE_LF_EXPECTED'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n folded\r\n\r\nx', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\n: empty\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 12345678901234567\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 206 OK\r\nContent-Range: bytes 0-1/9\r\nContent-Range: bytes 2-3/9\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFF\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n', 'HPE_INVALID_CHUNK_SIZE'],
    [`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(MAX_CHUNK_LINE_BYTES)}\r\n`, 'HPE_HEADER_OVERFLOW'],
    ['HTTP/1.1 100 Continue\r\n\r\n'.repeat(9) + 'HTTP/1.1 204 X\r\n\r\n', 'HPE_INVALID_STATUS']
  ]
  for (const [input, code] of cases) {
    for (const cuts of [[], [1], [input.length - 1]]) {
      assert.throws(() => parse(input, cuts, true), (e: unknown) => e instanceof HttpParseError && e.code === code,
        `${JSON.stringify(input.slice(0, 80))} cut at ${cuts.join(',')} should be ${code}`)
    }
  }
  // equal repeats of a single-valued field are harmless
  assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab').body.toString(), 'ab')
})

test('an endless head is refused once it passes the cap, however it is split, without keeping more than the cap', () => {
  const p = new ResponseParser({ head: () => {}, body: () => {}, complete: () => {} })
  p.execute(Buffer.from('HTTP/1.1 200 OK\r\n'))
  const filler = Buffer.from('X-Filler: ' + 'y'.repeat(1000) + '\r\n')
  let sent = 17
  let err: unknown
  try {
    for (;;) {
      p.execute(filler.subarray(0, 500))
      p.execute(filler.subarray(500))
      sent += filler.length
      assert.ok(sent < MAX_HEAD_BYTES + 2 * filler.length, 'the cap was not enforced')
    }
  } catch (e) { err = e }
  assert.ok(err instanceof HttpParseError && err.code === 'HPE_HEADER_OVERFLOW', String(err))
  // one line that never ends is cut off at the cap too
  const q = new ResponseParser({ head: () => {}, body: () => {}, complete: () => {} })
  assert.throws(() => { for (let i = 0; i < 100; i++) q.execute(Buffer.alloc(1024, 0x41)) }, { code: 'HPE_HEADER_OVERFLOW' })
})

test('stop() from a body event ends execute() there; the rest parses on the next call', () => {
  const seen: string[] = []
  let stopAt = 1
  const p = new ResponseParser({
    head: () => {},
    body: (b) => { seen.push(b.toString()); if (--stopAt === 0) p.stop() },
    complete: () => { seen.push('end') }
  })
  const input = Buffer.from(CHUNKED)
  const first = p.execute(input)
  assert.ok(first < input.length)
  assert.deepEqual(seen, ['abcd'])
  const rest = p.execute(input, first)
  assert.equal(rest, input.length)
  assert.deepEqual(seen, ['abcd', '0123456789', 'end'])
})
