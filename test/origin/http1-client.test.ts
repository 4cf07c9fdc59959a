/**
 * Our HTTP/1.1 client against real servers on loopback: the counting test
 * origin, and raw sockets that say exactly what a test needs.
 */
import test from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { once } from 'node:events'
import { Http1Pool, type Exchange } from '../../src/origin/http1-client.js'
import { startOrigin } from '../helpers/origin-server.js'
import { testData } from '../helpers/origin-fixtures.js'

interface Result { status?: number, headers?: Record<string, string>, body: Buffer, error?: Error & { code?: string }, ended: boolean }

/** Run one GET; `onData` may pause (it gets the exchange). Bytes are copied as they are lent. */
async function get (pool: Http1Pool, url: string, headers: Record<string, string> = {}, onData?: (ex: Exchange, chunk: Buffer) => void): Promise<Result> {
  const r: Result = { body: Buffer.alloc(0), ended: false }
  const parts: Buffer[] = []
  let ex: Exchange | undefined
  await new Promise<void>(resolve => {
    ex = pool.request(new URL(url), headers, {
      socket: () => {},
      head: (status, h) => { r.status = status; r.headers = h },
      data: (chunk) => { parts.push(Buffer.from(chunk)); if (ex !== undefined) onData?.(ex, chunk) },
      end: () => { r.ended = true; resolve() },
      error: (err) => { r.error = err; resolve() }
    })
  })
  r.body = Buffer.concat(parts)
  return r
}

/** A raw server answering each connection with `answer(socket, n)`; counts connections. */
async function rawServer (answer: (s: Socket, n: number) => void): Promise<{ url: string, accepted: () => number, close: () => Promise<void> }> {
  let n = 0
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    answer(s, ++n)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}/x`,
    accepted: () => n,
    close: async () => { for (const s of sockets) s.destroy(); server.close(); await once(server, 'close') }
  }
}

test('keep-alive: sequential requests share one connection; ranges come back byte-exact', async (t) => {
  const data = testData(300_000)
  const origin = await startOrigin({ data })
  t.after(async () => { await origin.close() })
  const pool = new Http1Pool({ maxSockets: 2 })
  t.after(() => { pool.destroy() })
  for (const [a, b] of [[0, 99_999], [100_000, 299_999], [5, 5]] as const) {
    const r = await get(pool, origin.url, { Range: `bytes=${a}-${b}` })
    assert.equal(r.error, undefined)
    assert.equal(r.status, 206)
    assert.deepEqual(new Uint8Array(r.body), data.subarray(a, b + 1))
  }
  assert.equal(origin.connectionsAccepted, 1)
  assert.equal(pool.sockets, 1)
})

test('at most maxSockets connections per host; further requests queue for a free one', async (t) => {
  const data = testData(64 * 1024)
  const origin = await startOrigin({ data, behaviour: () => ({ kind: 'trickle', intervalMs: 1, bytesPerTick: 4096 }) })
  t.after(async () => { await origin.close() })
  const pool = new Http1Pool({ maxSockets: 2 })
  t.after(() => { pool.destroy() })
  const rs = await Promise.all(Array.from({ length: 5 }, async () => await get(pool, origin.url, { Range: 'bytes=0-65535' })))
  for (const r of rs) assert.deepEqual(new Uint8Array(r.body), data)
  assert.equal(origin.connectionsAccepted, 2)
})

test('a consumer that pauses inside data gets the rest, in order, only after resume', async (t) => {
  const data = testData(500_000)
  const origin = await startOrigin({ data })
  t.after(async () => { await origin.close() })
  const pool = new Http1Pool({ maxSockets: 1, readBufferBytes: 4096 })
  t.after(() => { pool.destroy() })
  let paused = false
  let violations = 0
  const r = await get(pool, origin.url, { Range: 'bytes=0-499999' }, (ex) => {
    if (paused) violations++
    paused = true
    ex.pause()
    setTimeout(() => { paused = false; ex.resume() }, 1)
  })
  assert.equal(violations, 0, 'no data while paused')
  assert.deepEqual(new Uint8Array(r.body), data)
})

test('a paused consumer still gets the last bytes when the server closes after them', async (t) => {
  const body = 'x'.repeat(10_000)
  const srv = await rawServer((s) => {
    s.once('data', () => { s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`) })
  })
  t.after(async () => { await srv.close() })
  const pool = new Http1Pool({ maxSockets: 1, readBufferBytes: 1024 })
  t.after(() => { pool.destroy() })
  const r = await get(pool, srv.url, {}, (ex) => {
    ex.pause()
    setTimeout(() => { ex.resume() }, 20) // long enough for the FIN to arrive meanwhile
  })
  assert.equal(r.error, undefined)
  assert.equal(r.ended, true)
  assert.equal(r.body.toString(), body)
})

test('Connection: close, a close-delimited body, and bytes after a response each cost the connection', async (t) => {
  const srv = await rawServer((s, n) => {
    s.on('data', () => {
      if (n === 1) s.write('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n')
      else if (n === 2) s.end('HTTP/1.1 200 OK\r\n\r\nto the end')
      else if (n === 3) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA')
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
  })
  t.after(async () => { await srv.close() })
  const pool = new Http1Pool({ maxSockets: 1 })
  t.after(() => { pool.destroy() })
  assert.equal((await get(pool, srv.url)).status, 204)
  const open = await get(pool, srv.url)
  assert.equal(open.body.toString(), 'to the end')
  assert.equal(open.ended, true)
  assert.equal((await get(pool, srv.url)).body.toString(), 'ok')
  assert.equal((await get(pool, srv.url)).body.toString(), 'ok')
  assert.equal((await get(pool, srv.url)).body.toString(), 'ok')
  assert.equal(srv.accepted(), 4, 'a fresh connection after each of the first three; the fourth is reused')
})

test('bytes on an idle connection drop it; the next request opens a new one', async (t) => {
  const srv = await rawServer((s) => {
    s.on('data', () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      setTimeout(() => { if (!s.destroyed) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforged') }, 20)
    })
  })
  t.after(async () => { await srv.close() })
  const pool = new Http1Pool({ maxSockets: 1 })
  t.after(() => { pool.destroy() })
  assert.equal((await get(pool, srv.url)).body.toString(), 'ok')
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(pool.sockets, 0, 'the connection that spoke out of turn is gone')
  assert.equal((await get(pool, srv.url)).body.toString(), 'ok')
  assert.equal(srv.accepted(), 2)
})

test('a connection that ends mid-body, a malformed head and a refused connection are errors with codes', async (t) => {
  const srv = await rawServer((s, n) => {
    s.on('data', () => {
      if (n === 1) s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort')
      else s.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx')
    })
  })
  t.after(async () => { await srv.close() })
  const pool = new Http1Pool({ maxSockets: 1 })
  t.after(() => { pool.destroy() })
  const cut = await get(pool, srv.url)
  assert.equal(cut.error?.code, 'ECONNRESET')
  assert.equal(cut.body.toString(), 'short')
  assert.equal((await get(pool, srv.url)).error?.code, 'HPE_UNEXPECTED_CONTENT_LENGTH')
  const port = new URL(srv.url).port
  await srv.close()
  assert.equal((await get(pool, `http://127.0.0.1:${port}/`)).error?.code, 'ECONNREFUSED')
})

test('destroy(): an exchange given up mid-body closes its connection; destroying the pool fails queued ones', async (t) => {
  const srv = await rawServer((s) => {
    s.on('data', () => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial') })
  })
  t.after(async () => { await srv.close() })
  const pool = new Http1Pool({ maxSockets: 1 })
  const first = await new Promise<Exchange>(resolve => {
    const ex: Exchange = pool.request(new URL(srv.url), {}, {
      socket: () => {}, head: () => {}, end: () => {}, error: () => {},
      data: () => { resolve(ex) }
    })
  })
  let queuedError: Error | undefined
  pool.request(new URL(srv.url), {}, { socket: () => {}, head: () => {}, data: () => {}, end: () => {}, error: (e) => { queuedError = e } })
  first.destroy()
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.equal(srv.accepted(), 2, 'the queued request got a new connection: the cut one was not reused')
  pool.destroy()
  assert.ok(queuedError instanceof Error)
  assert.equal(pool.sockets, 0)
})
