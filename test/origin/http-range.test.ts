import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { checkPartialResponse, formatRange, parseContentRange, pieceByteRange } from '../../src/origin/http-range.js'

describe('pieceByteRange', () => {
  const m = { size: 100, pieceSize: 16 }
  it('covers whole pieces, the last one short', () => {
    assert.deepEqual(pieceByteRange(m, 0, 1), { start: 0, end: 15 })
    assert.deepEqual(pieceByteRange(m, 2, 3), { start: 32, end: 79 })
    assert.deepEqual(pieceByteRange(m, 6, 1), { start: 96, end: 99 })
    assert.deepEqual(pieceByteRange(m, 0, 7), { start: 0, end: 99 })
    assert.equal(formatRange(pieceByteRange(m, 2, 3)), 'bytes=32-79')
  })
})

describe('parseContentRange', () => {
  it('parses satisfied ranges', () => {
    assert.deepEqual(parseContentRange('bytes 0-99/100'), { start: 0, end: 99, size: 100 })
    assert.deepEqual(parseContentRange('BYTES 5-9/*'), { start: 5, end: 9 })
  })
  it('rejects malformed or impossible values', () => {
    for (const v of ['bytes */100', 'bytes 9-5/100', 'bytes 0-100/100', 'items 0-1/2', 'bytes 0-1', 'bytes=0-1/2', 'bytes 0-1/2, 3-4/5', 'bytes -1-2/3', 'bytes 0-99999999999999999/100000000000000000']) {
      assert.equal(parseContentRange(v), undefined, v)
    }
  })
})

describe('checkPartialResponse', () => {
  const want = { start: 32, end: 79 }
  const ok = { 'content-range': 'bytes 32-79/100', 'content-length': '48' }
  it('accepts the exact range', () => {
    assert.equal(checkPartialResponse(ok, want, 100), undefined)
    assert.equal(checkPartialResponse({ 'content-range': 'bytes 32-79/100' }, want, 100), undefined, 'Content-Length is optional')
    assert.equal(checkPartialResponse({ ...ok, 'content-encoding': 'identity' }, want, 100), undefined)
  })
  it('names each problem', () => {
    const cases: Array<[Record<string, string | string[]>, RegExp]> = [
      [{ 'content-length': '48' }, /without Content-Range/],
      [{ 'content-range': ['bytes 32-79/100', 'bytes 32-79/100'] }, /several Content-Range/],
      [{ 'content-range': 'bytes 32-79' }, /malformed Content-Range/],
      [{ 'content-range': 'bytes 33-80/100' }, /does not match requested 32-79/],
      [{ 'content-range': 'bytes 32-79/*' }, /size \* does not match manifest size 100/],
      [{ 'content-range': 'bytes 32-79/101' }, /size 101/],
      [{ ...ok, 'content-length': '49' }, /Content-Length 49 does not match range length 48/],
      [{ ...ok, 'content-length': '1e3' }, /malformed Content-Length/],
      [{ ...ok, 'content-length': ['48', '48'] }, /malformed Content-Length/],
      [{ ...ok, 'content-encoding': 'gzip' }, /Content-Encoding/]
    ]
    for (const [h, re] of cases) assert.match(checkPartialResponse(h, want, 100) ?? '', re)
  })
})
