import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { request } from 'undici'
import { testData } from '../helpers/origin-fixtures.js'
import { startOrigin, type Origin } from '../helpers/origin-server.js'

// The test helper itself must be right, or every origin test proves nothing.
describe('test origin server', () => {
  const data = testData(100_000)
  let origin: Origin
  before(async () => { origin = await startOrigin({ data }) })
  after(async () => { await origin.close() })

  async function get (headers: Record<string, string>, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number, headers: Record<string, unknown>, body: Buffer }> {
    const res = await request(origin.url, { method, headers, signal: AbortSignal.timeout(5000) })
    return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) }
  }

  it('serves ranges with 206 and Content-Range, and counts body bytes', async () => {
    const before = origin.bytesSent
    const r = await get({ range: 'bytes=10-19' })
    assert.equal(r.status, 206)
    assert.equal(r.headers['content-range'], 'bytes 10-19/100000')
    assert.equal(r.headers['content-length'], '10')
    assert.ok(r.body.equals(Buffer.from(data.subarray(10, 20))))
    assert.equal(origin.bytesSent - before, 10)
  })

  it('serves open and suffix ranges, 200 without Range, 416 past the end, HEAD without body', async () => {
    assert.ok((await get({ range: 'bytes=99990-' })).body.equals(Buffer.from(data.subarray(99_990))))
    assert.ok((await get({ range: 'bytes=-5' })).body.equals(Buffer.from(data.subarray(99_995))))
    const whole = await get({})
    assert.equal(whole.status, 200)
    assert.equal(whole.body.length, data.length)
    assert.equal((await get({ range: 'bytes=100000-100001' })).status, 416)
    const head = await get({ range: 'bytes=0-99' }, 'HEAD')
    assert.equal(head.status, 206)
    assert.equal(head.headers['content-length'], '100')
    assert.equal(head.body.length, 0)
  })

  it('keeps connections alive and logs requests', async () => {
    const n0 = origin.requests
    await get({ range: 'bytes=0-0' })
    await get({ range: 'bytes=1-1' })
    assert.equal(origin.requests - n0, 2)
    assert.equal(origin.log.at(-1)?.rangeHeader, 'bytes=1-1')
  })

  it('streams from a file path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'doswarm-origin-'))
    try {
      const file = join(dir, 'data.bin')
      await writeFile(file, data)
      const o = await startOrigin({ data: file })
      try {
        const res = await request(o.url, { headers: { range: 'bytes=50000-50009' }, signal: AbortSignal.timeout(5000) })
        assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(Buffer.from(data.subarray(50_000, 50_010))))
        assert.equal(o.bytesSent, 10)
      } finally { await o.close() }
    } finally { await rm(dir, { recursive: true, force: true }) }
  })

  it('refuses to bind anything but loopback', async () => {
    await assert.rejects(startOrigin({ data, host: '0.0.0.0' }))
  })
})
