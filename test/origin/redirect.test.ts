/** THREATS T10: redirects are bounded and never lead from public into private space. */
import assert from 'node:assert/strict'
import { lookup } from 'node:dns'
import { afterEach, describe, it } from 'node:test'
import { OriginError } from '../../src/errors.js'
import { pieceCount } from '../../src/manifest/types.js'
import { HttpSource, PRIVATE_ADDRESS_REFUSED, type HttpSourceInit } from '../../src/origin/index.js'
import { guardedLookup } from '../../src/origin/redirect.js'
import { assertPieces, drain, FAST, testData, testManifest, type Drained } from '../helpers/origin-fixtures.js'
import { startOrigin, type Origin, type OriginOptions } from '../helpers/origin-server.js'

const PIECE = 16 * 1024
const data = testData(5 * PIECE + 77)
const m = testManifest(data.length, PIECE)
const N = pieceCount(m)

/** Pretend 127.0.0.1 is a public CDN and every other address is private. */
const onlyDotOnePublic = (ip: string): 'public' | 'private' => ip === '127.0.0.1' ? 'public' : 'private'

let cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(cleanup.map(async f => await f()))
  cleanup = []
})

async function origin (opts: OriginOptions): Promise<Origin> {
  const o = await startOrigin(opts)
  cleanup.push(async () => await o.close())
  return o
}

async function fetchAll (url: string, init: Partial<HttpSourceInit> = {}): Promise<Drained & { source: HttpSource }> {
  const source = new HttpSource({ url, manifest: m, ...FAST, ...init })
  cleanup.push(async () => await source.close())
  return { ...(await drain(source, 0, N, AbortSignal.timeout(5000))), source }
}

describe('redirects', () => {
  it('follows a relative redirect on the same origin', async () => {
    const o = await origin({ data, behaviour: (req) => req.path === '/content' ? { kind: 'redirect', location: '/real?x=1', status: 307 } : undefined })
    const res = await fetchAll(o.url)
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.deepEqual(o.log.map(e => e.path), ['/content', '/real?x=1'])
    assert.equal(res.source.stats.requests, 2)
  })

  it('keeps the connection through a redirect (its small body is drained, not cut)', async () => {
    const o = await origin({ data, behaviour: (req) => req.path === '/content' ? { kind: 'redirect', location: '/real' } : undefined })
    const res = await fetchAll(o.url, { connections: 1 })
    assert.equal(res.error, undefined)
    assert.equal(o.connectionsAccepted, 1)
  })

  it('refuses a redirect from a public address to a private one, before connecting to it', async () => {
    const target = await origin({ data, host: '127.0.0.2' })
    const cdn = await origin({ data, behaviour: () => ({ kind: 'redirect', location: target.url }) })
    const res = await fetchAll(cdn.url, { classifyAddress: onlyDotOnePublic })
    assert.ok(res.error instanceof OriginError)
    assert.equal(res.error.retryable, false)
    assert.match(res.error.message, /refusing redirect from public 127\.0\.0\.1:\d+ to private address 127\.0\.0\.2/)
    assert.equal(target.requests, 0)
    assert.equal(target.connectionsAccepted, 0)
    assert.equal(res.pieces.length, 0)
  })

  it('allows it when allowPrivateRedirects is set', async () => {
    const target = await origin({ data, host: '127.0.0.2' })
    const cdn = await origin({ data, behaviour: () => ({ kind: 'redirect', location: target.url, status: 301 }) })
    const res = await fetchAll(cdn.url, { classifyAddress: onlyDotOnePublic, allowPrivateRedirects: true })
    assert.equal(res.error, undefined)
    assertPieces(res.pieces, 0, data, m)
    assert.equal(target.requests, 1)
  })

  it('allows private to private (a LAN mirror redirecting inside the LAN)', async () => {
    const target = await origin({ data, host: '127.0.0.2' })
    const mirror = await origin({ data, behaviour: () => ({ kind: 'redirect', location: target.url }) })
    const res = await fetchAll(mirror.url) // default classifier: both loopback, both private
    assert.equal(res.error, undefined)
    assert.equal(res.pieces.length, N)
  })

  it('caps a redirect loop at maxRedirects', async () => {
    const o = await origin({ data, behaviour: (req) => ({ kind: 'redirect', location: req.path + 'x' }) })
    const res = await fetchAll(o.url, { maxRedirects: 2 })
    assert.ok(res.error instanceof OriginError)
    assert.equal(res.error.retryable, false)
    assert.match(res.error.message, /too many redirects \(more than 2\)/)
    assert.equal(o.requests, 3)
  })

  it('maxRedirects 0 follows none', async () => {
    const o = await origin({ data, behaviour: (req) => req.path === '/content' ? { kind: 'redirect', location: '/real' } : undefined })
    const res = await fetchAll(o.url, { maxRedirects: 0 })
    assert.match((res.error as Error).message, /too many redirects/)
    assert.equal(o.requests, 1)
  })

  it('refuses non-http(s) targets and a missing Location', async () => {
    const ftp = await origin({ data, behaviour: () => ({ kind: 'redirect', location: 'file:///etc/passwd' }) })
    const r1 = await fetchAll(ftp.url)
    assert.ok(r1.error instanceof OriginError)
    assert.match(r1.error.message, /non-http\(s\) URL file:/)
    const empty = await origin({ data, behaviour: () => ({ kind: 'redirect', location: '' }) })
    const r2 = await fetchAll(empty.url)
    assert.match((r2.error as Error).message, /without a usable Location/)
  })
})

describe('guardedLookup (connect-time re-check against DNS rebinding)', () => {
  const call = async (host: string, publicOnly: Set<string>, all: boolean): Promise<{ err: NodeJS.ErrnoException | null, addr: unknown }> =>
    await new Promise(resolve => guardedLookup(publicOnly, () => 'private')(host, { all }, (err, addr) => resolve({ err, addr })))

  it('refuses a public-only host that resolves privately', async () => {
    for (const all of [true, false]) {
      const { err } = await call('localhost', new Set(['localhost']), all)
      assert.equal(err?.code, PRIVATE_ADDRESS_REFUSED)
    }
  })

  it('behaves like dns.lookup for other hosts', async () => {
    const want = await new Promise<string>((resolve, reject) => lookup('localhost', (e, a) => e !== null ? reject(e) : resolve(a)))
    const one = await call('localhost', new Set(), false)
    assert.equal(one.err, null)
    assert.equal(one.addr, want)
    const many = await call('localhost', new Set(), true)
    assert.ok(Array.isArray(many.addr) && many.addr.length >= 1)
  })
})
